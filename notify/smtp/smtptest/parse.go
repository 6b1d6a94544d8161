package smtptest

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net/mail"
	"net/textproto"
	"strings"
	"time"
)

// Parsed is a message taken apart: decoded headers and the leaf parts of
// its MIME tree with their bodies decoded.
type Parsed struct {
	// Header is the message's header, values as sent.
	Header mail.Header
	// Subject is the Subject header with RFC 2047 words decoded.
	Subject string
	// From, To and ReplyTo are the address headers, names decoded (nil or
	// empty when the header is absent).
	From    *mail.Address
	To      []*mail.Address
	ReplyTo []*mail.Address
	// MessageID is the Message-ID header, angle brackets included.
	MessageID string
	// Date is the Date header (zero when absent).
	Date time.Time
	// ContentType is the message's media type ("multipart/alternative",
	// "text/plain"), without parameters.
	ContentType string
	// Parts lists the leaf parts in the order they appear (depth first).
	Parts []Part
	// Text and HTML are the bodies of the first text/plain and the first
	// text/html leaf ("" when there is none).
	Text string
	HTML string
}

// Part is one leaf of the MIME tree.
type Part struct {
	// ContentType is the media type without parameters ("text/html").
	ContentType string
	// Params are the Content-Type's parameters (charset, ...).
	Params map[string]string
	// Header is the part's own header (for a message that is not
	// multipart, the message's header).
	Header textproto.MIMEHeader
	// Body is the body with its Content-Transfer-Encoding (quoted-printable
	// or base64) undone, and for text/* parts the CRLF line breaks of the
	// wire turned into LF, so that it compares equal to the text that was
	// sent. A message that is not multipart loses its body's final line
	// break, which the end of SMTP's DATA adds when the body has none.
	// Charsets are not converted: go-mail writes UTF-8.
	Body string
}

// Parse takes m apart with the standard library (net/mail, mime,
// mime/multipart, mime/quotedprintable). It fails on a malformed header,
// multipart structure or transfer encoding, which is what a test of a
// message's structure wants to hear about.
func Parse(m Message) (*Parsed, error) {
	msg, err := mail.ReadMessage(bytes.NewReader(m.Data))
	if err != nil {
		return nil, fmt.Errorf("smtptest: reading the message: %w", err)
	}
	p := &Parsed{Header: msg.Header, MessageID: msg.Header.Get("Message-Id")}
	var dec mime.WordDecoder
	if p.Subject, err = dec.DecodeHeader(msg.Header.Get("Subject")); err != nil {
		return nil, fmt.Errorf("smtptest: Subject: %w", err)
	}
	if msg.Header.Get("From") != "" {
		if p.From, err = mail.ParseAddress(msg.Header.Get("From")); err != nil {
			return nil, fmt.Errorf("smtptest: From: %w", err)
		}
	}
	for _, h := range []struct {
		name string
		to   *[]*mail.Address
	}{{"To", &p.To}, {"Reply-To", &p.ReplyTo}} {
		if msg.Header.Get(h.name) == "" {
			continue
		}
		if *h.to, err = msg.Header.AddressList(h.name); err != nil {
			return nil, fmt.Errorf("smtptest: %s: %w", h.name, err)
		}
	}
	if msg.Header.Get("Date") != "" {
		if p.Date, err = msg.Header.Date(); err != nil {
			return nil, fmt.Errorf("smtptest: Date: %w", err)
		}
	}
	top := textproto.MIMEHeader(msg.Header)
	if p.ContentType, _, err = mediaType(top); err != nil {
		return nil, err
	}
	if err := p.walk(top, msg.Body, 0); err != nil {
		return nil, err
	}
	if len(p.Parts) == 1 && !strings.HasPrefix(p.ContentType, "multipart/") && strings.HasPrefix(p.ContentType, "text/") {
		// SMTP's end of data needs a line break before the final dot and
		// the client adds one when the body lacks it, so "a" and "a\n"
		// arrive alike: take the last one off.
		p.Parts[0].Body = strings.TrimSuffix(p.Parts[0].Body, "\n")
	}
	for _, part := range p.Parts {
		switch {
		case part.ContentType == "text/plain" && p.Text == "":
			p.Text = part.Body
		case part.ContentType == "text/html" && p.HTML == "":
			p.HTML = part.Body
		}
	}
	return p, nil
}

// ContentTypes lists the leaf parts' media types in order, for asserting a
// structure in one line.
func (p *Parsed) ContentTypes() []string {
	out := make([]string, len(p.Parts))
	for i, part := range p.Parts {
		out[i] = part.ContentType
	}
	return out
}

func mediaType(h textproto.MIMEHeader) (string, map[string]string, error) {
	ct := h.Get("Content-Type")
	if ct == "" {
		return "text/plain", map[string]string{"charset": "us-ascii"}, nil // RFC 2045 §5.2
	}
	t, params, err := mime.ParseMediaType(ct)
	if err != nil {
		return "", nil, fmt.Errorf("smtptest: Content-Type %q: %w", ct, err)
	}
	return t, params, nil
}

func (p *Parsed) walk(h textproto.MIMEHeader, body io.Reader, depth int) error {
	if depth > 20 {
		return fmt.Errorf("smtptest: MIME tree deeper than 20 levels")
	}
	t, params, err := mediaType(h)
	if err != nil {
		return err
	}
	if strings.HasPrefix(t, "multipart/") {
		if params["boundary"] == "" {
			return fmt.Errorf("smtptest: %s without a boundary", t)
		}
		r := multipart.NewReader(body, params["boundary"])
		for {
			// NextRawPart leaves the transfer encoding alone, so that every
			// leaf is decoded the same way, below.
			part, err := r.NextRawPart()
			if err == io.EOF {
				return nil
			}
			if err != nil {
				return fmt.Errorf("smtptest: reading a part of %s: %w", t, err)
			}
			if err := p.walk(part.Header, part, depth+1); err != nil {
				return err
			}
		}
	}
	var dec io.Reader
	switch cte := strings.ToLower(strings.TrimSpace(h.Get("Content-Transfer-Encoding"))); cte {
	case "", "7bit", "8bit", "binary":
		dec = body
	case "quoted-printable":
		dec = quotedprintable.NewReader(body)
	case "base64":
		dec = base64.NewDecoder(base64.StdEncoding, body) // skips the line breaks
	default:
		return fmt.Errorf("smtptest: unknown Content-Transfer-Encoding %q", cte)
	}
	b, err := io.ReadAll(dec)
	if err != nil {
		return fmt.Errorf("smtptest: decoding a %s part: %w", t, err)
	}
	if strings.HasPrefix(t, "text/") {
		b = bytes.ReplaceAll(b, []byte("\r\n"), []byte("\n"))
	}
	p.Parts = append(p.Parts, Part{ContentType: t, Params: params, Header: h, Body: string(b)})
	return nil
}
