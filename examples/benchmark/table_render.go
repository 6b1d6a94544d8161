package main

import (
	"encoding/json"
	"encoding/xml"
	"fmt"
	"io"
	"math"
	"strings"
	"text/tabwriter"
	"time"
)

// The benchmark table's results, and how they are printed, written as
// JSON and drawn as SVG. Everything here is a pure function of a report.

// report is one run of the table: what ran where, and one row per metric
// and mode. It is what -out writes as benchmark-results.json.
type report struct {
	Started time.Time   `json:"started"`
	Elapsed float64     `json:"elapsed_s"`
	Machine machineInfo `json:"machine"`
	// CalDAV names the CalDAV server the calendar rows ran against.
	CalDAV string     `json:"caldav_server"`
	Rows   []tableRow `json:"rows"`
}

// machineInfo describes where the run happened: the figures mean little
// without it.
type machineInfo struct {
	OS         string  `json:"os"`
	Arch       string  `json:"arch"`
	CPUs       int     `json:"cpus"`
	GOMAXPROCS int     `json:"gomaxprocs"`
	Go         string  `json:"go"`
	BusyBefore float64 `json:"machine_busy_before_pct"` // the whole machine's CPU use in the second before the run, -1 when unknown
	LoadBefore string  `json:"load_average_before"`
	LoadAfter  string  `json:"load_average_after"`
	Postgres   bool    `json:"postgres"`
}

// tableRow is one metric in one mode: the SDK's path and its floor, the
// same path without the SDK, measured in the same run.
type tableRow struct {
	Metric string `json:"metric"`
	Mode   string `json:"mode"` // "memory" or "postgres"
	// Target is the target as a person reads it: "p99 < 100 ms",
	// "> 99.5%". TargetMS (latency rows) or TargetPct (the uptime row)
	// is its number.
	Target    string  `json:"target"`
	TargetMS  float64 `json:"target_ms,omitempty"`
	TargetPct float64 `json:"target_uptime_pct,omitempty"`
	SDK       measure `json:"sdk"`
	Floor     measure `json:"floor"`
	Met       bool    `json:"met"`
}

// uptime reports whether the row is the connection uptime row rather than
// a latency row.
func (r tableRow) uptime() bool { return r.TargetPct > 0 }

// measure is one side of a row. A latency side has percentiles in
// milliseconds; the uptime side has the share of time connected.
type measure struct {
	Path    string  `json:"path"` // what was timed, from where to where
	Samples int     `json:"samples"`
	Missing int     `json:"missing"` // sent but never arrived (uptime: broadcasts the subscriber never saw)
	P50MS   float64 `json:"p50_ms,omitempty"`
	P99MS   float64 `json:"p99_ms,omitempty"`
	MaxMS   float64 `json:"max_ms,omitempty"`
	// The uptime row's figures.
	UptimePct  float64 `json:"uptime_pct,omitempty"`
	Drops      int     `json:"drops,omitempty"`
	Duplicates int     `json:"duplicates,omitempty"`
}

// latencyMeasure summarises sorted latencies.
func latencyMeasure(path string, sorted []time.Duration, missing int) measure {
	return measure{Path: path, Samples: len(sorted), Missing: missing,
		P50MS: ms(percentile(sorted, 0.5)), P99MS: ms(percentile(sorted, 0.99)), MaxMS: ms(percentile(sorted, 1))}
}

func ms(d time.Duration) float64 { return math.Round(float64(d)/1e3) / 1e3 }

// latencyRow makes a latency row: the target is met when the SDK's p99 is
// under targetMS and nothing went missing.
func latencyRow(metric, mode string, targetMS float64, sdk, floor measure) tableRow {
	return tableRow{Metric: metric, Mode: mode, Target: fmt.Sprintf("p99 < %g ms", targetMS), TargetMS: targetMS,
		SDK: sdk, Floor: floor, Met: sdk.Samples > 0 && sdk.P99MS < targetMS && sdk.Missing == 0}
}

// uptimeRow makes the uptime row: met when the SDK's client was connected
// over targetPct of the time and missed nothing.
func uptimeRow(mode string, targetPct float64, sdk, floor measure) tableRow {
	return tableRow{Metric: "connection uptime", Mode: mode, Target: fmt.Sprintf("> %g%%", targetPct), TargetPct: targetPct,
		SDK: sdk, Floor: floor, Met: sdk.UptimePct > targetPct && sdk.Missing == 0}
}

// fmtMS formats milliseconds for the table.
func fmtMS(v float64) string {
	switch {
	case v >= 1000:
		return fmt.Sprintf("%.2f s", v/1000)
	case v >= 10:
		return fmt.Sprintf("%.0f ms", v)
	case v >= 1:
		return fmt.Sprintf("%.1f ms", v)
	}
	return fmt.Sprintf("%.2f ms", v)
}

func fmtPct(v float64) string { return fmt.Sprintf("%.2f%%", v) }

// renderTable prints the table: one line per row, then what each row
// timed.
func renderTable(w io.Writer, r report) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "metric\tmode\ttarget\tp50\tp99\tfloor p50\tfloor p99\tsamples\tmissing\tresult")
	fmt.Fprintln(tw, "------\t----\t------\t---\t---\t---------\t---------\t-------\t-------\t------")
	for _, row := range r.Rows {
		result := "met"
		if !row.Met {
			result = "MISSED"
		}
		missing := fmt.Sprint(row.SDK.Missing)
		if row.Floor.Missing > 0 {
			missing += fmt.Sprintf(" (floor %d)", row.Floor.Missing)
		}
		if row.uptime() {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s up\t%d drops\t%s up\t\t%d\t%s\t%s\n", row.Metric, row.Mode, row.Target,
				fmtPct(row.SDK.UptimePct), row.SDK.Drops, fmtPct(row.Floor.UptimePct), row.SDK.Samples, missing, result)
			continue
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%d\t%s\t%s\n", row.Metric, row.Mode, row.Target,
			fmtMS(row.SDK.P50MS), fmtMS(row.SDK.P99MS), fmtMS(row.Floor.P50MS), fmtMS(row.Floor.P99MS), row.SDK.Samples, missing, result)
	}
	_ = tw.Flush()
	fmt.Fprintln(w)
	seen := map[string]bool{}
	for _, row := range r.Rows {
		key := row.Metric + "\x00" + row.Mode
		if seen[key] {
			continue
		}
		seen[key] = true
		fmt.Fprintf(w, "%s, %s: %s\n    floor: %s\n", row.Metric, row.Mode, row.SDK.Path, row.Floor.Path)
	}
}

// readJSON reads a report writeJSON wrote.
func readJSON(r io.Reader) (report, error) {
	var rep report
	err := json.NewDecoder(r).Decode(&rep)
	return rep, err
}

// writeJSON writes the report, indented.
func writeJSON(w io.Writer, r report) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(r)
}

// SVG layout, in pixels.
const (
	svgWidth   = 960
	svgLabelW  = 250 // the metric names on the left
	svgPlotW   = 560 // the bars
	svgBarH    = 9
	svgBarGap  = 2
	svgGroupPd = 12 // padding between groups
	svgTop     = 96 // title and legend
)

// Bar colours: the SDK's p50 and p99, the floor's p50 and p99.
var svgColours = [4]string{"#2f6fdf", "#a9c4f5", "#6b6b6b", "#c8c8c8"}

// renderSVG draws the latency chart: one group per latency row with four
// horizontal bars (the SDK's p50 and p99, the floor's p50 and p99) on one
// logarithmic millisecond axis, and the row's target as a dashed line
// across its group; then one group for each uptime row, the share of time
// connected of the SDK's client and of the floor's on a percentage axis
// with the target line. Each group is a <g class="metric">.
func renderSVG(w io.Writer, r report) error {
	var lat, up []tableRow
	for _, row := range r.Rows {
		if row.uptime() {
			up = append(up, row)
		} else {
			lat = append(lat, row)
		}
	}
	groupH := 4*(svgBarH+svgBarGap) + svgGroupPd
	upH := 2*(svgBarH+svgBarGap) + svgGroupPd
	latTop := svgTop
	upTop := latTop + len(lat)*groupH + 40
	height := upTop + len(up)*upH + 50
	if len(up) == 0 {
		height = upTop + 10
	}

	// The millisecond axis: decades covering every bar and target.
	lo, hi := 1.0, 100.0
	for _, row := range lat {
		for _, v := range []float64{row.SDK.P50MS, row.SDK.P99MS, row.Floor.P50MS, row.Floor.P99MS, row.TargetMS} {
			if v > 0 {
				lo, hi = math.Min(lo, v), math.Max(hi, v)
			}
		}
	}
	lo, hi = math.Pow(10, math.Floor(math.Log10(lo))), math.Pow(10, math.Ceil(math.Log10(hi)))
	x := func(v float64) float64 {
		v = math.Max(v, lo)
		return svgLabelW + svgPlotW*(math.Log10(v)-math.Log10(lo))/(math.Log10(hi)-math.Log10(lo))
	}

	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif" font-size="12">`+"\n",
		svgWidth, height, svgWidth, height)
	fmt.Fprintf(&b, `<rect width="%d" height="%d" fill="#ffffff"/>`+"\n", svgWidth, height)
	title := fmt.Sprintf("WedSync integrations: end-to-end latency, %s, %d CPUs, %s", r.Started.UTC().Format("2006-01-02 15:04 UTC"), r.Machine.CPUs, r.Machine.Go)
	fmt.Fprintf(&b, `<text x="16" y="24" font-size="15" font-weight="bold">%s</text>`+"\n", esc(title))
	legend := []string{"SDK p50", "SDK p99", "floor p50 (no SDK)", "floor p99 (no SDK)"}
	lx := 16.0
	for i, l := range legend {
		fmt.Fprintf(&b, `<rect x="%.0f" y="38" width="12" height="12" fill="%s"/><text x="%.0f" y="48">%s</text>`+"\n", lx, svgColours[i], lx+16, esc(l))
		lx += 40 + 7*float64(len(l))
	}
	fmt.Fprintf(&b, `<line x1="%.0f" y1="44" x2="%.0f" y2="44" stroke="#d62728" stroke-width="2" stroke-dasharray="5,3"/><text x="%.0f" y="48">target (p99)</text>`+"\n", lx, lx+24, lx+30)

	// Axis: gridlines and labels at each decade.
	axisY := latTop - 10
	for v := lo; v <= hi*1.0001; v *= 10 {
		fmt.Fprintf(&b, `<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="#e5e5e5"/>`+"\n", x(v), axisY, x(v), latTop+len(lat)*groupH)
		fmt.Fprintf(&b, `<text x="%.1f" y="%d" text-anchor="middle" fill="#555">%s</text>`+"\n", x(v), axisY-4, esc(fmtMS(v)))
	}
	fmt.Fprintf(&b, `<text x="16" y="%d" fill="#555">latency (log scale)</text>`+"\n", axisY-4)

	for i, row := range lat {
		y := latTop + i*groupH
		fmt.Fprintf(&b, `<g class="metric" data-metric="%s" data-mode="%s">`+"\n", esc(row.Metric), esc(row.Mode))
		fmt.Fprintf(&b, `<text x="16" y="%d" font-weight="bold">%s</text>`+"\n", y+14, esc(row.Metric))
		status, colour := "met", "#2ca02c"
		if !row.Met {
			status, colour = "MISSED", "#d62728"
		}
		fmt.Fprintf(&b, `<text x="16" y="%d" fill="#555">%s, %s · <tspan fill="%s">%s</tspan></text>`+"\n", y+30, esc(row.Mode), esc(row.Target), colour, status)
		tx := x(row.TargetMS)
		fmt.Fprintf(&b, `<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="#d62728" stroke-width="2" stroke-dasharray="5,3"/>`+"\n",
			tx, y-2, tx, y+4*(svgBarH+svgBarGap))
		vals := [4]float64{row.SDK.P50MS, row.SDK.P99MS, row.Floor.P50MS, row.Floor.P99MS}
		for j, v := range vals {
			by := y + j*(svgBarH+svgBarGap)
			fmt.Fprintf(&b, `<rect x="%d" y="%d" width="%.1f" height="%d" fill="%s"><title>%s %s</title></rect>`+"\n",
				svgLabelW, by, math.Max(1, x(v)-svgLabelW), svgBarH, svgColours[j], esc(legend[j]), esc(fmtMS(v)))
			fmt.Fprintf(&b, `<text x="%.1f" y="%d" font-size="10" fill="#333" stroke="#fff" stroke-width="3" paint-order="stroke">%s</text>`+"\n", math.Max(x(v), svgLabelW+1)+4, by+svgBarH-1, esc(fmtMS(v)))
		}
		b.WriteString("</g>\n")
	}

	if len(up) > 0 {
		// Uptime axis: from a round figure under the lowest bar (and the
		// target) to 100%.
		floor := 99.0
		for _, row := range up {
			for _, v := range []float64{row.SDK.UptimePct, row.Floor.UptimePct, row.TargetPct} {
				if v > 0 {
					floor = math.Min(floor, math.Floor(v))
				}
			}
		}
		ux := func(v float64) float64 {
			return svgLabelW + svgPlotW*(math.Max(v, floor)-floor)/(100-floor)
		}
		fmt.Fprintf(&b, `<text x="16" y="%d" font-size="13" font-weight="bold">connection uptime under scripted disconnects (linear scale)</text>`+"\n", upTop-18)
		for _, v := range []float64{floor, (floor + 100) / 2, 100} {
			fmt.Fprintf(&b, `<text x="%.1f" y="%d" text-anchor="middle" fill="#555">%s</text>`+"\n", ux(v), upTop-4, esc(fmtPct(v)))
		}
		for i, row := range up {
			y := upTop + 4 + i*upH
			fmt.Fprintf(&b, `<g class="metric" data-metric="%s" data-mode="%s">`+"\n", esc(row.Metric), esc(row.Mode))
			fmt.Fprintf(&b, `<text x="16" y="%d" font-weight="bold">%s, %s</text>`+"\n", y+9, esc(row.Metric), esc(row.Mode))
			fmt.Fprintf(&b, `<text x="16" y="%d" fill="#555" font-size="10">%s; missed %d (floor %d)</text>`+"\n", y+21, esc(row.Target), row.SDK.Missing, row.Floor.Missing)
			tx := ux(row.TargetPct)
			fmt.Fprintf(&b, `<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="#d62728" stroke-width="2" stroke-dasharray="5,3"/>`+"\n",
				tx, y-2, tx, y+2*(svgBarH+svgBarGap))
			for j, v := range []float64{row.SDK.UptimePct, row.Floor.UptimePct} {
				by := y + j*(svgBarH+svgBarGap)
				fmt.Fprintf(&b, `<rect x="%d" y="%d" width="%.1f" height="%d" fill="%s"><title>%s</title></rect>`+"\n",
					svgLabelW, by, math.Max(1, ux(v)-svgLabelW), svgBarH, svgColours[2*j], esc(fmtPct(v)))
				fmt.Fprintf(&b, `<text x="%.1f" y="%d" font-size="10" fill="#333" stroke="#fff" stroke-width="3" paint-order="stroke">%s %s</text>`+"\n", ux(v)+4, by+svgBarH-1, []string{"SDK", "floor"}[j], esc(fmtPct(v)))
			}
			b.WriteString("</g>\n")
		}
	}
	b.WriteString("</svg>\n")
	_, err := io.WriteString(w, b.String())
	return err
}

// esc escapes s for XML text and attribute values.
func esc(s string) string {
	var b strings.Builder
	_ = xml.EscapeText(&b, []byte(s))
	return b.String()
}
