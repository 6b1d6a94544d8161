package notify

import (
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestDefaultPreferences(t *testing.T) {
	type sw struct {
		c  Category
		ch Channel
		on bool
	}
	// Switches every vendor type shares: the ones that matter.
	common := []sw{
		{CategoryPayment, ChannelSMS, true},
		{CategoryCalendarConflict, ChannelSMS, true},
		{CategoryCalendarConflict, ChannelPush, true},
		{CategoryBooking, ChannelPush, true},
		{CategoryMessage, ChannelPush, true},
		{CategoryMessage, ChannelSMS, false},
		{CategoryReview, ChannelPush, false},
		{CategoryReview, ChannelSMS, false},
		{CategorySystem, ChannelEmail, true},
		{CategorySystem, ChannelSMS, false},
		{"unknown_category", ChannelEmail, true},
		{"unknown_category", ChannelInApp, true},
		{"unknown_category", ChannelPush, false},
		{"unknown_category", ChannelSMS, false},
	}
	tests := []struct {
		vendor   string
		switches []sw
		digests  map[Category]time.Duration
	}{
		{VendorOther, []sw{{CategoryBooking, ChannelSMS, false}, {CategoryTimeline, ChannelSMS, false}, {CategoryTimeline, ChannelPush, false}},
			map[Category]time.Duration{CategoryReview: 24 * time.Hour, CategoryTimeline: time.Hour, CategoryEnquiry: 0, CategoryBooking: 0}},
		{"", []sw{{CategoryBooking, ChannelSMS, false}},
			map[Category]time.Duration{CategoryEnquiry: 0}},
		{"tattoo_artist", []sw{{CategoryBooking, ChannelSMS, false}},
			map[Category]time.Duration{CategoryEnquiry: 0}},
		{VendorPhotographer, []sw{{CategoryBooking, ChannelSMS, true}, {CategoryTimeline, ChannelSMS, false}},
			map[Category]time.Duration{CategoryEnquiry: 0, CategoryTimeline: time.Hour}},
		{VendorVideographer, []sw{{CategoryBooking, ChannelSMS, true}},
			map[Category]time.Duration{CategoryEnquiry: 0}},
		{VendorMusic, []sw{{CategoryBooking, ChannelSMS, true}},
			map[Category]time.Duration{CategoryEnquiry: 0}},
		{VendorVenue, []sw{{CategoryBooking, ChannelSMS, false}, {CategoryEnquiry, ChannelPush, true}},
			map[Category]time.Duration{CategoryEnquiry: time.Hour, CategoryReview: 24 * time.Hour}},
		{VendorPlanner, []sw{{CategoryBooking, ChannelSMS, false}, {CategoryTimeline, ChannelPush, true}},
			map[Category]time.Duration{CategoryEnquiry: time.Hour, CategoryTimeline: 0}},
		{VendorCaterer, []sw{{CategoryTimeline, ChannelSMS, true}, {CategoryTimeline, ChannelPush, true}, {CategoryBooking, ChannelSMS, false}},
			map[Category]time.Duration{CategoryTimeline: 0, CategoryEnquiry: 0}},
		{VendorFlorist, []sw{{CategoryTimeline, ChannelPush, true}, {CategoryTimeline, ChannelSMS, false}, {CategoryBooking, ChannelSMS, false}},
			map[Category]time.Duration{CategoryTimeline: time.Hour}},
	}
	for _, tt := range tests {
		t.Run(tt.vendor, func(t *testing.T) {
			p := DefaultPreferences(tt.vendor)
			require.NoError(t, p.Validate())
			require.False(t, p.Muted)
			for _, s := range append(common, tt.switches...) {
				require.Equal(t, s.on, p.Allows(s.c, s.ch), "%s on %s", s.c, s.ch)
			}
			for _, c := range []Category{CategoryBooking, CategoryEnquiry, CategoryPayment, CategoryMessage,
				CategoryReview, CategoryCalendarConflict, CategoryTimeline, CategorySystem, "unknown_category"} {
				require.True(t, p.Allows(c, ChannelInApp), "in_app of %s", c)
				require.True(t, p.Allows(c, ChannelEmail), "email of %s", c)
			}
			for c, d := range tt.digests {
				require.Equal(t, d, p.DigestWindow(c), "digest of %s", c)
			}
			require.Equal(t, []Channel{ChannelPush, ChannelSMS, ChannelEmail}, p.Escalation)
			require.Equal(t, []QuietWindow{{Start: "22:00", End: "07:00"}}, p.QuietHours)
		})
	}
}

func TestDefaultPreferencesAreFresh(t *testing.T) {
	a := DefaultPreferences(VendorPhotographer)
	a.Categories[CategoryBooking].Channels[ChannelSMS] = false
	a.Default.Channels[ChannelEmail] = false
	a.Categories[CategoryTimeline] = CategoryPreferences{}
	a.Escalation[0] = ChannelEmail
	a.QuietHours[0].Start = "23:00"

	b := DefaultPreferences(VendorPhotographer)
	require.True(t, b.Allows(CategoryBooking, ChannelSMS))
	require.True(t, b.Allows("other", ChannelEmail))
	require.Equal(t, time.Hour, b.DigestWindow(CategoryTimeline))
	require.Equal(t, ChannelPush, b.Escalation[0])
	require.Equal(t, "22:00", b.QuietHours[0].Start)
	require.False(t, DefaultPreferences(VendorOther).Allows(CategoryBooking, ChannelSMS))
}

func TestPreferencesValidate(t *testing.T) {
	tests := []struct {
		name   string
		change func(p *Preferences)
		field  string // "" when valid
	}{
		{"defaults", func(*Preferences) {}, ""},
		{"empty", func(p *Preferences) { *p = Preferences{} }, ""},
		{"bad channel in a category", func(p *Preferences) { p.Categories[CategoryBooking].Channels["fax"] = true },
			"categories.booking.channels.fax"},
		{"bad channel off still bad", func(p *Preferences) { p.Categories[CategoryBooking].Channels["Email"] = false },
			"categories.booking.channels.Email"},
		{"bad channel in default", func(p *Preferences) { p.Default.Channels["pigeon"] = true }, "default.channels.pigeon"},
		{"channel key with dots is quoted", func(p *Preferences) { p.Default.Channels["a.b"] = true }, `default.channels."a.b"`},
		{"upper-case category", func(p *Preferences) { p.Categories["Booking"] = CategoryPreferences{} }, "categories.Booking"},
		{"empty category", func(p *Preferences) { p.Categories[""] = CategoryPreferences{} }, `categories.""`},
		{"long category", func(p *Preferences) { p.Categories[Category(fmt.Sprintf("%051d", 0))] = CategoryPreferences{} },
			fmt.Sprintf("categories.%q", fmt.Sprintf("%050d", 0)+"...")},
		{"custom category", func(p *Preferences) { p.Categories["seating_plan_2"] = CategoryPreferences{} }, ""},
		{"digest too short", func(p *Preferences) { p.Categories[CategoryReview] = CategoryPreferences{Digest: time.Second} },
			"categories.review.digest"},
		{"digest negative", func(p *Preferences) { p.Default.Digest = -time.Hour }, "default.digest"},
		{"digest too long", func(p *Preferences) { p.Default.Digest = 8 * 24 * time.Hour }, "default.digest"},
		{"digest bounds", func(p *Preferences) {
			p.Default.Digest = time.Minute
			p.Categories[CategoryReview] = CategoryPreferences{Digest: 7 * 24 * time.Hour}
		}, ""},
		{"escalation unknown", func(p *Preferences) { p.Escalation = []Channel{ChannelPush, "fax"} }, "escalation[1]"},
		{"escalation in_app", func(p *Preferences) { p.Escalation = []Channel{ChannelInApp} }, "escalation[0]"},
		{"escalation repeat", func(p *Preferences) { p.Escalation = []Channel{ChannelSMS, ChannelEmail, ChannelSMS} }, "escalation[2]"},
		{"escalation short", func(p *Preferences) { p.Escalation = []Channel{ChannelEmail} }, ""},
		{"too many windows", func(p *Preferences) {
			p.QuietHours = make([]QuietWindow, 15)
			for i := range p.QuietHours {
				p.QuietHours[i] = QuietWindow{Start: "01:00", End: "02:00"}
			}
		}, "quiet_hours"},
		{"fourteen windows", func(p *Preferences) {
			p.QuietHours = make([]QuietWindow, 14)
			for i := range p.QuietHours {
				p.QuietHours[i] = QuietWindow{Days: []time.Weekday{time.Weekday(i % 7)}, Start: fmt.Sprintf("%02d:00", i), End: "23:00"}
			}
		}, ""},
		{"start missing", func(p *Preferences) { p.QuietHours = []QuietWindow{{End: "07:00"}} }, "quiet_hours[0].start"},
		{"start 24:00", func(p *Preferences) { p.QuietHours[0].Start = "24:00" }, "quiet_hours[0].start"},
		{"start 7:00", func(p *Preferences) { p.QuietHours[0].Start = "7:00" }, "quiet_hours[0].start"},
		{"start 22:60", func(p *Preferences) { p.QuietHours[0].Start = "22:60" }, "quiet_hours[0].start"},
		{"start 22.00", func(p *Preferences) { p.QuietHours[0].Start = "22.00" }, "quiet_hours[0].start"},
		{"end 24:01", func(p *Preferences) { p.QuietHours[0].End = "24:01" }, "quiet_hours[0].end"},
		{"end 25:00", func(p *Preferences) { p.QuietHours[0].End = "25:00" }, "quiet_hours[0].end"},
		{"end with seconds", func(p *Preferences) { p.QuietHours[0].End = "07:00:00" }, "quiet_hours[0].end"},
		{"end 24:00", func(p *Preferences) { p.QuietHours[0].End = "24:00" }, ""},
		{"start equals end", func(p *Preferences) {
			p.QuietHours = append(p.QuietHours, QuietWindow{Start: "12:00", End: "12:00"})
		}, "quiet_hours[1].end"},
		{"day 7", func(p *Preferences) { p.QuietHours[0].Days = []time.Weekday{time.Monday, 7} }, "quiet_hours[0].days[1]"},
		{"day -1", func(p *Preferences) { p.QuietHours[0].Days = []time.Weekday{-1} }, "quiet_hours[0].days[0]"},
		{"day twice", func(p *Preferences) {
			p.QuietHours[0].Days = []time.Weekday{time.Saturday, time.Sunday, time.Saturday}
		}, "quiet_hours[0].days[2]"},
		{"whole week", func(p *Preferences) { p.QuietHours = []QuietWindow{{Start: "00:00", End: "24:00"}} }, "quiet_hours"},
		{"whole week in pieces", func(p *Preferences) {
			p.QuietHours = []QuietWindow{
				{Start: "07:00", End: "22:00"},
				{Days: []time.Weekday{0, 1, 2, 3, 4, 5}, Start: "22:00", End: "07:00"},
				{Days: []time.Weekday{6}, Start: "21:00", End: "07:00"},
			}
		}, "quiet_hours"},
		{"all week but a minute", func(p *Preferences) {
			p.QuietHours = []QuietWindow{
				{Start: "07:00", End: "22:00"},
				{Days: []time.Weekday{0, 1, 2, 3, 4, 5}, Start: "22:00", End: "07:00"},
				{Days: []time.Weekday{6}, Start: "22:01", End: "07:00"},
			}
		}, ""},
		{"first error wins", func(p *Preferences) {
			p.Default.Digest = time.Second
			p.QuietHours[0].Start = "x"
		}, "default.digest"},
		{"categories in name order", func(p *Preferences) {
			p.Categories["zz"] = CategoryPreferences{Digest: -1}
			p.Categories["aa"] = CategoryPreferences{Digest: -1}
		}, "categories.aa.digest"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := DefaultPreferences(VendorOther)
			tt.change(&p)
			err := p.Validate()
			if tt.field == "" {
				require.NoError(t, err)
				return
			}
			require.ErrorIs(t, err, ErrInvalid)
			var ve *ValidationError
			require.True(t, errors.As(err, &ve))
			require.Equal(t, "notify", ve.Package)
			require.Equal(t, tt.field, ve.Field, "rule: %s", ve.Rule)
			require.NotEmpty(t, ve.Rule)
		})
	}
}

func TestAllows(t *testing.T) {
	p := Preferences{
		Default: CategoryPreferences{Channels: map[Channel]bool{ChannelEmail: true}},
		Categories: map[Category]CategoryPreferences{
			CategoryBooking: {Channels: map[Channel]bool{ChannelSMS: true, ChannelInApp: true, ChannelPush: false}, Digest: time.Hour},
			// A category present with no channels turns everything off,
			// rather than falling back to Default.
			CategoryReview: {},
		},
	}
	require.True(t, p.Allows(CategoryBooking, ChannelSMS))
	require.True(t, p.Allows(CategoryBooking, ChannelInApp))
	require.False(t, p.Allows(CategoryBooking, ChannelPush))
	require.False(t, p.Allows(CategoryBooking, ChannelEmail))
	require.False(t, p.Allows(CategoryBooking, "fax"))
	require.True(t, p.Allows(CategoryEnquiry, ChannelEmail))
	require.False(t, p.Allows(CategoryEnquiry, ChannelInApp))
	require.False(t, p.Allows(CategoryReview, ChannelEmail))
	require.Equal(t, time.Hour, p.DigestWindow(CategoryBooking))
	require.Zero(t, p.DigestWindow(CategoryEnquiry))
	require.Zero(t, Preferences{Default: CategoryPreferences{Digest: -time.Hour}}.DigestWindow("x"))

	p.Muted = true
	require.False(t, p.Allows(CategoryBooking, ChannelSMS))
	require.True(t, p.Allows(CategoryBooking, ChannelInApp), "muted keeps in-app")
	require.False(t, p.Allows(CategoryEnquiry, ChannelEmail))
	require.False(t, p.Allows(CategoryEnquiry, ChannelInApp), "muted does not turn in-app on")
	require.Empty(t, p.EscalationOrder(CategoryBooking))
}

func TestEscalationOrder(t *testing.T) {
	p := DefaultPreferences(VendorOther)
	require.Equal(t, []Channel{ChannelPush, ChannelSMS, ChannelEmail}, p.EscalationOrder(CategoryPayment))
	require.Equal(t, []Channel{ChannelPush, ChannelEmail}, p.EscalationOrder(CategoryBooking))
	require.Equal(t, []Channel{ChannelEmail}, p.EscalationOrder(CategoryReview))
	require.Equal(t, []Channel{ChannelEmail}, p.EscalationOrder("custom"))

	p.Escalation = []Channel{ChannelSMS, ChannelInApp, ChannelEmail, ChannelSMS, "fax"}
	require.Equal(t, []Channel{ChannelSMS, ChannelEmail}, p.EscalationOrder(CategoryPayment), "in-app, repeats and unknowns dropped")

	p.Escalation = []Channel{}
	require.Equal(t, []Channel{ChannelPush, ChannelSMS, ChannelEmail}, p.EscalationOrder(CategoryCalendarConflict), "empty means the default")

	// The result is the caller's.
	got := p.EscalationOrder(CategoryPayment)
	got[0] = ChannelEmail
	require.Equal(t, ChannelPush, p.EscalationOrder(CategoryPayment)[0])
	require.Equal(t, ChannelPush, defaultEscalation[0])
}

func mustLoad(t testing.TB, name string) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation(name)
	require.NoError(t, err)
	return loc
}

// quietCase is one QuietUntil question: at the instant now (UTC, RFC 3339),
// is it quiet, and until when (UTC) and what does the local clock then show.
type quietCase struct {
	name    string
	now     string
	quiet   bool
	endUTC  string // RFC 3339
	endWall string // "2006-01-02 15:04 MST" in the zone
}

func runQuiet(t *testing.T, p Preferences, loc *time.Location, cases []quietCase) {
	t.Helper()
	require.NoError(t, p.Validate())
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			now, err := time.Parse(time.RFC3339, c.now)
			require.NoError(t, err)
			end, quiet := p.QuietUntil(now, loc)
			require.Equal(t, c.quiet, quiet, "now %s (%s)", now, now.In(loc))
			if !c.quiet {
				require.True(t, end.IsZero())
				return
			}
			want, err := time.Parse(time.RFC3339, c.endUTC)
			require.NoError(t, err)
			require.True(t, want.Equal(end), "end %s (%s), want %s", end.UTC(), end.In(loc), want)
			require.Equal(t, c.endWall, end.In(loc).Format("2006-01-02 15:04 MST"))
			// The quiet is over at its end, and holds just before.
			_, again := p.QuietUntil(end, loc)
			require.False(t, again, "quiet again at the end")
			before, still := p.QuietUntil(end.Add(-time.Second), loc)
			require.True(t, still)
			require.True(t, before.Equal(end))
		})
	}
}

func nightly() Preferences {
	return Preferences{QuietHours: []QuietWindow{{Start: "22:00", End: "07:00"}}}
}

func TestQuietUntilAcrossDST(t *testing.T) {
	// 22:00 to 07:00 every night ends at 07:00 local on the morning after
	// each change of the clocks: the night is an hour (or, on Chatham, an
	// hour) shorter or longer in real time.
	zones := []struct {
		zone  string
		cases []quietCase
	}{
		{"Europe/London", []quietCase{
			{"spring evening before", "2026-03-28T23:30:00Z", true, "2026-03-29T06:00:00Z", "2026-03-29 07:00 BST"},
			{"spring after the jump", "2026-03-29T02:00:00Z", true, "2026-03-29T06:00:00Z", "2026-03-29 07:00 BST"},
			{"spring at 07:00 BST", "2026-03-29T06:00:00Z", false, "", ""},
			{"spring at 07:00 GMT (08:00 BST)", "2026-03-29T07:00:00Z", false, "", ""},
			{"spring just before 22:00 BST", "2026-03-29T20:59:59Z", false, "", ""},
			{"spring at 22:00 BST", "2026-03-29T21:00:00Z", true, "2026-03-30T06:00:00Z", "2026-03-30 07:00 BST"},
			{"autumn evening before", "2026-10-24T22:30:00Z", true, "2026-10-25T07:00:00Z", "2026-10-25 07:00 GMT"},
			{"autumn in the repeated hour", "2026-10-25T01:30:00Z", true, "2026-10-25T07:00:00Z", "2026-10-25 07:00 GMT"},
			{"autumn at 06:00 GMT (would be 07:00 BST)", "2026-10-25T06:00:00Z", true, "2026-10-25T07:00:00Z", "2026-10-25 07:00 GMT"},
			{"autumn at 07:00 GMT", "2026-10-25T07:00:00Z", false, "", ""},
		}},
		{"America/New_York", []quietCase{
			{"spring evening before", "2026-03-08T04:30:00Z", true, "2026-03-08T11:00:00Z", "2026-03-08 07:00 EDT"},
			{"spring in the night", "2026-03-08T07:30:00Z", true, "2026-03-08T11:00:00Z", "2026-03-08 07:00 EDT"},
			{"spring at 07:00 EDT", "2026-03-08T11:00:00Z", false, "", ""},
			{"spring at 21:59 EDT", "2026-03-09T01:59:00Z", false, "", ""},
			{"autumn evening before", "2026-11-01T03:30:00Z", true, "2026-11-01T12:00:00Z", "2026-11-01 07:00 EST"},
			{"autumn at 06:59 EST", "2026-11-01T11:59:00Z", true, "2026-11-01T12:00:00Z", "2026-11-01 07:00 EST"},
			{"autumn at 07:00 EST", "2026-11-01T12:00:00Z", false, "", ""},
		}},
		{"Australia/Sydney", []quietCase{
			// Southern hemisphere: DST ends in April, starts in October.
			{"April evening before (AEDT)", "2026-04-04T12:30:00Z", true, "2026-04-04T21:00:00Z", "2026-04-05 07:00 AEST"},
			{"April at 07:00 AEST", "2026-04-04T21:00:00Z", false, "", ""},
			{"April at 06:00 AEST (07:00 AEDT)", "2026-04-04T20:00:00Z", true, "2026-04-04T21:00:00Z", "2026-04-05 07:00 AEST"},
			{"October evening before (AEST)", "2026-10-03T13:30:00Z", true, "2026-10-03T20:00:00Z", "2026-10-04 07:00 AEDT"},
			{"October at 07:00 AEDT", "2026-10-03T20:00:00Z", false, "", ""},
		}},
		{"Asia/Kolkata", []quietCase{
			{"no DST, +05:30", "2026-03-28T18:00:00Z", true, "2026-03-29T01:30:00Z", "2026-03-29 07:00 IST"},
			{"just before 22:00", "2026-03-28T16:29:59Z", false, "", ""},
			{"at 22:00", "2026-03-28T16:30:00Z", true, "2026-03-29T01:30:00Z", "2026-03-29 07:00 IST"},
			{"at 07:00", "2026-03-29T01:30:00Z", false, "", ""},
		}},
		{"Pacific/Chatham", []quietCase{
			// +13:45 in summer, +12:45 in winter; the clocks change at 02:45
			// standard time.
			{"April evening before (+1345)", "2026-04-04T09:45:00Z", true, "2026-04-04T18:15:00Z", "2026-04-05 07:00 +1245"},
			{"April at 07:00 +1245", "2026-04-04T18:15:00Z", false, "", ""},
			{"September evening before (+1245)", "2026-09-26T10:45:00Z", true, "2026-09-26T17:15:00Z", "2026-09-27 07:00 +1345"},
			{"September at 07:00 +1345", "2026-09-26T17:15:00Z", false, "", ""},
			{"September at 06:59 +1345", "2026-09-26T17:14:00Z", true, "2026-09-26T17:15:00Z", "2026-09-27 07:00 +1345"},
		}},
	}
	for _, z := range zones {
		t.Run(z.zone, func(t *testing.T) { runQuiet(t, nightly(), mustLoad(t, z.zone), z.cases) })
	}
}

func TestQuietUntilSkippedAndRepeatedTimes(t *testing.T) {
	sunday := []time.Weekday{time.Sunday}
	ny := mustLoad(t, "America/New_York")
	london := mustLoad(t, "Europe/London")

	// New York skips 02:00-02:59 on Sunday 8 March 2026 (07:00 UTC).
	t.Run("window containing the missing hour", func(t *testing.T) {
		p := Preferences{QuietHours: []QuietWindow{{Days: sunday, Start: "01:00", End: "04:00"}}}
		runQuiet(t, p, ny, []quietCase{
			{"before", "2026-03-08T05:59:59Z", false, "", ""},
			{"at 01:00 EST", "2026-03-08T06:00:00Z", true, "2026-03-08T08:00:00Z", "2026-03-08 04:00 EDT"},
			{"at 03:30 EDT", "2026-03-08T07:30:00Z", true, "2026-03-08T08:00:00Z", "2026-03-08 04:00 EDT"},
			{"at 04:00 EDT", "2026-03-08T08:00:00Z", false, "", ""},
			{"a week later it is three hours", "2026-03-15T05:00:00Z", true, "2026-03-15T08:00:00Z", "2026-03-15 04:00 EDT"},
		})
	})
	t.Run("window starting in the missing hour starts at the jump", func(t *testing.T) {
		p := Preferences{QuietHours: []QuietWindow{{Days: sunday, Start: "02:30", End: "06:00"}}}
		runQuiet(t, p, ny, []quietCase{
			{"01:59 EST", "2026-03-08T06:59:00Z", false, "", ""},
			{"03:00 EDT", "2026-03-08T07:00:00Z", true, "2026-03-08T10:00:00Z", "2026-03-08 06:00 EDT"},
		})
	})
	t.Run("window inside the missing hour is empty that day", func(t *testing.T) {
		p := Preferences{QuietHours: []QuietWindow{{Days: sunday, Start: "02:00", End: "02:45"}}}
		runQuiet(t, p, ny, []quietCase{
			{"01:59 EST", "2026-03-08T06:59:00Z", false, "", ""},
			{"03:00 EDT", "2026-03-08T07:00:00Z", false, "", ""},
			{"a week earlier", "2026-03-01T07:30:00Z", true, "2026-03-01T07:45:00Z", "2026-03-01 02:45 EST"},
		})
	})
	// London skips 01:00-01:59 on Sunday 29 March 2026 (01:00 UTC).
	t.Run("window ending in the missing hour ends at the jump", func(t *testing.T) {
		p := Preferences{QuietHours: []QuietWindow{{Days: sunday, Start: "00:30", End: "01:30"}}}
		runQuiet(t, p, london, []quietCase{
			{"00:29 GMT", "2026-03-29T00:29:00Z", false, "", ""},
			{"00:45 GMT", "2026-03-29T00:45:00Z", true, "2026-03-29T01:00:00Z", "2026-03-29 02:00 BST"},
		})
	})
	t.Run("window ending in the missing hour, New York", func(t *testing.T) {
		p := Preferences{QuietHours: []QuietWindow{{Days: []time.Weekday{time.Saturday}, Start: "22:00", End: "02:30"}}}
		runQuiet(t, p, ny, []quietCase{
			{"23:00 EST", "2026-03-08T04:00:00Z", true, "2026-03-08T07:00:00Z", "2026-03-08 03:00 EDT"},
			{"03:00 EDT", "2026-03-08T07:00:00Z", false, "", ""},
		})
	})
	// New York shows 01:00-01:59 twice on Sunday 1 November 2026; London
	// on Sunday 25 October 2026. Times are read as their first occurrence.
	t.Run("repeated time, New York", func(t *testing.T) {
		p := Preferences{QuietHours: []QuietWindow{{Days: []time.Weekday{time.Saturday}, Start: "22:00", End: "01:30"}}}
		runQuiet(t, p, ny, []quietCase{
			{"01:15 EDT", "2026-11-01T05:15:00Z", true, "2026-11-01T05:30:00Z", "2026-11-01 01:30 EDT"},
			{"01:30 EDT", "2026-11-01T05:30:00Z", false, "", ""},
			{"01:15 EST, after the window", "2026-11-01T06:15:00Z", false, "", ""},
		})
	})
	t.Run("repeated time, London", func(t *testing.T) {
		// time.Date alone reads 01:00 here as GMT, the second occurrence.
		p := Preferences{QuietHours: []QuietWindow{{Days: sunday, Start: "01:00", End: "01:45"}}}
		runQuiet(t, p, london, []quietCase{
			{"00:59 BST", "2026-10-24T23:59:00Z", false, "", ""},
			{"01:00 BST", "2026-10-25T00:00:00Z", true, "2026-10-25T00:45:00Z", "2026-10-25 01:45 BST"},
			{"01:00 GMT", "2026-10-25T01:00:00Z", false, "", ""},
		})
	})
}

func TestQuietUntilMergesWindows(t *testing.T) {
	london := mustLoad(t, "Europe/London")
	t.Run("touching windows", func(t *testing.T) {
		p := Preferences{QuietHours: []QuietWindow{
			{Days: []time.Weekday{time.Monday}, Start: "22:00", End: "24:00"},
			{Days: []time.Weekday{time.Tuesday}, Start: "00:00", End: "07:00"},
		}}
		runQuiet(t, p, london, []quietCase{
			{"Monday 21:59", "2026-03-23T21:59:00Z", false, "", ""},
			{"Monday 22:00", "2026-03-23T22:00:00Z", true, "2026-03-24T07:00:00Z", "2026-03-24 07:00 GMT"},
			{"Monday 23:59:59", "2026-03-23T23:59:59Z", true, "2026-03-24T07:00:00Z", "2026-03-24 07:00 GMT"},
			{"Tuesday 00:00", "2026-03-24T00:00:00Z", true, "2026-03-24T07:00:00Z", "2026-03-24 07:00 GMT"},
			{"Tuesday 07:00", "2026-03-24T07:00:00Z", false, "", ""},
			{"Tuesday 22:00", "2026-03-24T22:00:00Z", false, "", ""},
		})
	})
	t.Run("touching windows across the spring change", func(t *testing.T) {
		p := Preferences{QuietHours: []QuietWindow{
			{Days: []time.Weekday{time.Saturday}, Start: "22:00", End: "24:00"},
			{Days: []time.Weekday{time.Sunday}, Start: "00:00", End: "07:00"},
		}}
		runQuiet(t, p, london, []quietCase{
			{"Saturday 23:00", "2026-03-28T23:00:00Z", true, "2026-03-29T06:00:00Z", "2026-03-29 07:00 BST"},
		})
	})
	t.Run("weekend all day", func(t *testing.T) {
		p := Preferences{QuietHours: []QuietWindow{
			{Days: []time.Weekday{time.Saturday}, Start: "00:00", End: "24:00"},
			{Days: []time.Weekday{time.Sunday}, Start: "00:00", End: "24:00"},
		}}
		runQuiet(t, p, london, []quietCase{
			{"Friday 23:59:59", "2026-03-20T23:59:59Z", false, "", ""},
			{"Saturday 00:00", "2026-03-21T00:00:00Z", true, "2026-03-23T00:00:00Z", "2026-03-23 00:00 GMT"},
			{"Saturday 10:00", "2026-03-21T10:00:00Z", true, "2026-03-23T00:00:00Z", "2026-03-23 00:00 GMT"},
			{"Sunday 23:59", "2026-03-22T23:59:00Z", true, "2026-03-23T00:00:00Z", "2026-03-23 00:00 GMT"},
			{"Monday 00:00", "2026-03-23T00:00:00Z", false, "", ""},
			{"weekend of the change", "2026-03-28T12:00:00Z", true, "2026-03-29T23:00:00Z", "2026-03-30 00:00 BST"},
		})
	})
	t.Run("overlapping chain", func(t *testing.T) {
		p := Preferences{QuietHours: []QuietWindow{
			{Start: "22:00", End: "07:00"},
			{Days: []time.Weekday{time.Saturday}, Start: "06:00", End: "12:00"},
			{Days: []time.Weekday{time.Saturday}, Start: "11:00", End: "13:00"},
		}}
		runQuiet(t, p, time.UTC, []quietCase{
			{"Friday night", "2026-03-20T23:00:00Z", true, "2026-03-21T13:00:00Z", "2026-03-21 13:00 UTC"},
			{"Thursday night", "2026-03-19T23:00:00Z", true, "2026-03-20T07:00:00Z", "2026-03-20 07:00 UTC"},
		})
	})
	t.Run("free only in the hour the clocks skip", func(t *testing.T) {
		// Quiet all week but Sunday 01:00-02:00 in London: on 29 March that
		// hour does not exist, so the quiet runs on to the next Sunday.
		p := Preferences{QuietHours: []QuietWindow{
			{Days: []time.Weekday{time.Sunday}, Start: "02:00", End: "24:00"},
			{Days: []time.Weekday{1, 2, 3, 4, 5, 6}, Start: "00:00", End: "24:00"},
			{Days: []time.Weekday{time.Sunday}, Start: "00:00", End: "01:00"},
		}}
		runQuiet(t, p, london, []quietCase{
			{"Monday before", "2026-03-16T12:00:00Z", true, "2026-03-22T01:00:00Z", "2026-03-22 01:00 GMT"},
			{"Sunday 01:00 GMT is free", "2026-03-22T01:00:00Z", false, "", ""},
			{"two weeks of quiet", "2026-03-22T02:00:00Z", true, "2026-04-05T00:00:00Z", "2026-04-05 01:00 BST"},
		})
	})
}

func TestQuietUntilEdges(t *testing.T) {
	// No windows: never quiet.
	_, quiet := Preferences{}.QuietUntil(time.Date(2026, 1, 1, 23, 0, 0, 0, time.UTC), time.UTC)
	require.False(t, quiet)

	// nil location is UTC; the end is in loc.
	end, quiet := nightly().QuietUntil(time.Date(2026, 1, 1, 23, 0, 0, 0, time.UTC), nil)
	require.True(t, quiet)
	require.True(t, end.Equal(time.Date(2026, 1, 2, 7, 0, 0, 0, time.UTC)))

	// Windows Validate rejects are ignored, the others still count.
	p := Preferences{QuietHours: []QuietWindow{{Start: "bad", End: "07:00"}, {Start: "10:00", End: "10:00"}, {Start: "22:00", End: "07:00"}}}
	end, quiet = p.QuietUntil(time.Date(2026, 1, 1, 23, 0, 0, 0, time.UTC), time.UTC)
	require.True(t, quiet)
	require.True(t, end.Equal(time.Date(2026, 1, 2, 7, 0, 0, 0, time.UTC)))

	// now in another location than loc: only the instant matters.
	kolkata := mustLoad(t, "Asia/Kolkata")
	now := time.Date(2026, 6, 1, 23, 0, 0, 0, kolkata).In(mustLoad(t, "America/Los_Angeles"))
	end, quiet = nightly().QuietUntil(now, kolkata)
	require.True(t, quiet)
	require.True(t, end.Equal(time.Date(2026, 6, 2, 7, 0, 0, 0, kolkata)))

	// Quiet hours covering the whole week (Validate rejects them) are cut
	// at the horizon rather than looping.
	all := Preferences{QuietHours: []QuietWindow{{Start: "00:00", End: "24:00"}}}
	start := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	end, quiet = all.QuietUntil(start, time.UTC)
	require.True(t, quiet)
	require.True(t, end.Equal(time.Date(2026, 1, 1+quietHorizonDays+1, 0, 0, 0, 0, time.UTC)), "end %s", end)
}

// TestWallInstantIsTheFirstShowing checks wallInstant against its
// definition, by brute force, around every DST change of 2026 in zones with
// whole-hour, half-hour (Lord Howe) and 45-minute (Chatham) offsets, and on
// the day Samoa skipped (30 December 2011).
func TestWallInstantIsTheFirstShowing(t *testing.T) {
	zones := []string{"Europe/London", "America/New_York", "Australia/Sydney", "Pacific/Chatham",
		"Australia/Lord_Howe", "Asia/Kolkata", "America/Santiago", "Africa/Casablanca"}
	type day struct {
		loc  *time.Location
		date time.Time // civil date, UTC
	}
	var days []day
	for _, name := range zones {
		loc := mustLoad(t, name)
		days = append(days, day{loc, time.Date(2026, 6, 15, 0, 0, 0, 0, time.UTC)})
		at := time.Date(2026, 1, 1, 0, 0, 0, 0, loc)
		for {
			_, end := at.ZoneBounds()
			if end.IsZero() || end.Year() > 2026 {
				break
			}
			y, m, d := end.Date()
			days = append(days, day{loc, time.Date(y, m, d-1, 0, 0, 0, 0, time.UTC)},
				day{loc, time.Date(y, m, d, 0, 0, 0, 0, time.UTC)})
			at = end
		}
	}
	days = append(days, day{mustLoad(t, "Pacific/Apia"), time.Date(2011, 12, 30, 0, 0, 0, 0, time.UTC)})
	require.Greater(t, len(days), 20)

	checked := 0
	for _, dd := range days {
		y, m, d := dd.date.Date()
		for minute := 0; minute <= minutesPerDay; minute += 15 {
			got := wallInstant(y, m, d, minute, dd.loc)
			want := time.Date(y, m, d, 0, minute, 0, 0, time.UTC)
			// The first minute whose local clock shows want or later; 15 h
			// before want the clock shows less in every zone.
			x := want.Add(-15 * time.Hour)
			for wallClock(x.In(dd.loc)).Before(want) {
				x = x.Add(time.Minute)
			}
			require.True(t, got.Equal(x), "%s %s %02d:%02d: got %s, want %s",
				dd.loc, dd.date.Format("2006-01-02"), minute/60, minute%60, got.In(dd.loc), x.In(dd.loc))
			checked++
		}
	}
	t.Logf("%d wall times checked", checked)
}

// quietAt is the definition QuietUntil implements, for one instant: some
// window, started on x's local day or one of the two before, holds x.
func quietAt(p Preferences, x time.Time, loc *time.Location) bool {
	y, m, d := x.In(loc).Date()
	for k := -2; k <= 0; k++ {
		day := time.Date(y, m, d+k, 0, 0, 0, 0, time.UTC)
		for _, w := range p.QuietHours {
			qw, err := parseQuietWindow(w)
			if err != nil || (qw.days != 0 && qw.days&(1<<day.Weekday()) == 0) {
				continue
			}
			dy, dm, dd := day.Date()
			endDay := dd
			if qw.end <= qw.start {
				endDay++
			}
			if s, e := wallInstant(dy, dm, dd, qw.start, loc), wallInstant(dy, dm, endDay, qw.end, loc); !x.Before(s) && x.Before(e) {
				return true
			}
		}
	}
	return false
}

// TestQuietUntilAgainstDefinition draws windows on a 15-minute grid and
// checks QuietUntil against quietAt on every 15 minutes from now to the end
// it gives (quiet throughout, and not at the end), around DST changes.
func TestQuietUntilAgainstDefinition(t *testing.T) {
	rng := rand.New(rand.NewPCG(8, 2026))
	zones := []*time.Location{mustLoad(t, "Europe/London"), mustLoad(t, "America/New_York"),
		mustLoad(t, "Australia/Sydney"), mustLoad(t, "Pacific/Chatham"), mustLoad(t, "Asia/Kolkata")}
	// Around the 2026 changes of those zones, and a quiet week.
	starts := []time.Time{
		time.Date(2026, 3, 5, 0, 0, 0, 0, time.UTC), time.Date(2026, 3, 26, 0, 0, 0, 0, time.UTC),
		time.Date(2026, 4, 2, 0, 0, 0, 0, time.UTC), time.Date(2026, 9, 24, 0, 0, 0, 0, time.UTC),
		time.Date(2026, 10, 1, 0, 0, 0, 0, time.UTC), time.Date(2026, 10, 22, 0, 0, 0, 0, time.UTC),
		time.Date(2026, 10, 29, 0, 0, 0, 0, time.UTC), time.Date(2026, 6, 10, 0, 0, 0, 0, time.UTC),
	}
	clock := func() string {
		q := rng.IntN(96)
		if rng.IntN(2) == 0 { // common times, so that windows touch
			q = []int{0, 4, 28, 48, 88}[rng.IntN(5)]
		}
		return fmt.Sprintf("%02d:%02d", q/4, q%4*15)
	}
	cases, quietCases := 0, 0
	for cases < 400 {
		var p Preferences
		for range 1 + rng.IntN(4) {
			w := QuietWindow{Start: clock(), End: clock()}
			if rng.IntN(8) == 0 {
				w.End = "24:00"
			}
			for d := range 7 {
				if rng.IntN(3) == 0 {
					w.Days = append(w.Days, time.Weekday(d))
				}
			}
			p.QuietHours = append(p.QuietHours, w)
		}
		if p.Validate() != nil {
			continue
		}
		cases++
		loc := zones[rng.IntN(len(zones))]
		now := starts[rng.IntN(len(starts))].Add(time.Duration(rng.IntN(7*96)) * 15 * time.Minute)
		end, quiet := p.QuietUntil(now, loc)
		require.Equal(t, quietAt(p, now, loc), quiet, "%+v at %s in %s", p.QuietHours, now, loc)
		if !quiet {
			continue
		}
		quietCases++
		for x := now; x.Before(end); x = x.Add(15 * time.Minute) {
			require.True(t, quietAt(p, x, loc), "%+v: not quiet at %s, before the end %s", p.QuietHours, x.In(loc), end.In(loc))
		}
		require.False(t, quietAt(p, end, loc), "%+v: quiet at the end %s", p.QuietHours, end.In(loc))
	}
	t.Logf("%d cases, %d quiet", cases, quietCases)
}

func FuzzPreferencesJSON(f *testing.F) {
	for _, v := range []string{VendorOther, VendorPhotographer, VendorCaterer, VendorPlanner} {
		b, err := json.Marshal(DefaultPreferences(v))
		require.NoError(f, err)
		f.Add(b, int64(1774735800), uint8(0))
	}
	f.Add([]byte(`{"quiet_hours":[{"days":[6],"start":"00:00","end":"24:00"},{"days":[0],"start":"00:00","end":"24:00"}]}`), int64(1774699200), uint8(0))
	f.Add([]byte(`{"quiet_hours":[{"days":[0],"start":"02:00","end":"01:00"},{"days":[1,2,3,4,5,6],"start":"00:00","end":"24:00"}]}`), int64(1774144800), uint8(0))
	f.Add([]byte(`{"quiet_hours":[{"days":[0],"start":"02:30","end":"06:00"}]}`), int64(1772953200), uint8(1))
	f.Add([]byte(`{"quiet_hours":[{"start":"00:00","end":"24:00"}]}`), int64(0), uint8(2))
	f.Add([]byte(`{"muted":true,"escalation":["sms","in_app"],"categories":{"x":{"channels":{"fax":true},"digest":-1}}}`), int64(-1), uint8(3))
	f.Add([]byte(`{"quiet_hours":[{"days":[7],"start":"24:00","end":"7:00"}]}`), int64(99), uint8(4))

	zones := []*time.Location{mustLoad(f, "Europe/London"), mustLoad(f, "America/New_York"),
		mustLoad(f, "Australia/Sydney"), mustLoad(f, "Asia/Kolkata"), mustLoad(f, "Pacific/Chatham"),
		mustLoad(f, "Australia/Lord_Howe"), time.UTC}
	const span = 4102444800 // 1970 to 2100
	f.Fuzz(func(t *testing.T, data []byte, unix int64, zone uint8) {
		var p Preferences
		if json.Unmarshal(data, &p) != nil {
			return
		}
		err := p.Validate()
		for _, c := range []Category{CategoryBooking, CategoryPayment, "", "zz"} {
			for _, ch := range AllChannels() {
				p.Allows(c, ch)
			}
			for _, ch := range p.EscalationOrder(c) {
				require.NotEqual(t, ChannelInApp, ch)
				require.True(t, p.Allows(c, ch))
			}
			require.GreaterOrEqual(t, p.DigestWindow(c), time.Duration(0))
		}
		loc := zones[int(zone)%len(zones)]
		now := time.Unix(((unix%span)+span)%span, 0)
		end, quiet := p.QuietUntil(now, loc) // never panics, valid or not
		if err != nil {
			var ve *ValidationError
			require.True(t, errors.As(err, &ve), "%v", err)
			require.NotEmpty(t, ve.Field)
			return
		}
		if !quiet {
			require.True(t, end.IsZero())
			return
		}
		require.True(t, end.After(now), "end %s not after now %s", end, now)
		_, again := p.QuietUntil(end, loc)
		require.False(t, again, "quiet again at the end %s (now %s, %s)", end.In(loc), now.In(loc), loc)
	})
}

func BenchmarkQuietUntil(b *testing.B) {
	loc := mustLoad(b, "Europe/London")
	weekend := DefaultPreferences(VendorVenue)
	weekend.QuietHours = append(weekend.QuietHours, QuietWindow{Days: []time.Weekday{time.Saturday, time.Sunday}, Start: "00:00", End: "24:00"})
	for _, bc := range []struct {
		name  string
		p     Preferences
		now   time.Time
		quiet bool
	}{
		{"daytime", DefaultPreferences(VendorVenue), time.Date(2026, 3, 26, 12, 0, 0, 0, loc), false},
		{"night", DefaultPreferences(VendorVenue), time.Date(2026, 3, 26, 23, 0, 0, 0, loc), true},
		{"into the weekend", weekend, time.Date(2026, 3, 27, 23, 0, 0, 0, loc), true},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, quiet := bc.p.QuietUntil(bc.now, loc); quiet != bc.quiet {
					b.Fatal("quiet", quiet)
				}
			}
		})
	}
}

func ExampleDefaultPreferences() {
	p := DefaultPreferences(VendorCaterer)
	fmt.Println(p.Allows(CategoryTimeline, ChannelSMS), p.DigestWindow(CategoryTimeline))
	fmt.Println(p.Allows(CategoryReview, ChannelPush), p.DigestWindow(CategoryReview))
	fmt.Println(p.EscalationOrder(CategoryPayment))
	// Output:
	// true 0s
	// false 24h0m0s
	// [push sms email]
}

func ExamplePreferences_QuietUntil() {
	london, err := time.LoadLocation("Europe/London")
	if err != nil {
		panic(err)
	}
	p := DefaultPreferences(VendorPhotographer) // quiet 22:00 to 07:00
	// The night the clocks go forward is an hour shorter.
	now := time.Date(2026, 3, 28, 23, 30, 0, 0, london)
	end, quiet := p.QuietUntil(now, london)
	fmt.Println(quiet, end.In(london).Format("Mon 15:04 MST"), end.Sub(now))
	// Output: true Sun 07:00 BST 6h30m0s
}
