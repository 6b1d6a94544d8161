package calendar_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/wedsync/integrations/calendar"
	"github.com/wedsync/integrations/calendar/calendartest"
)

// A photographer connects a calendar; an enquiry takes a hold, a second
// enquiry for the same afternoon is refused, the hold is confirmed and
// appears in the calendar, and a dentist appointment in the calendar shows
// up as busy time.
func ExampleSync() {
	ctx := context.Background()
	google := calendartest.NewProvider("google") // stands in for a real provider
	google.AddCalendar("primary")

	s, err := calendar.NewSync(calendar.WithProvider(google))
	if err != nil {
		panic(err)
	}
	if err := s.Start(ctx); err != nil {
		panic(err)
	}
	defer s.Stop(ctx)

	conn, err := s.Connect(ctx, calendar.Connection{Supplier: "sup_anna", Provider: "google", Calendar: "primary",
		TimeZone: "Europe/London"}, []byte(`{"token":"..."}`))
	if err != nil {
		panic(err)
	}

	london, _ := time.LoadLocation("Europe/London")
	day := func(h int) time.Time { return time.Date(2027, 6, 5, h, 0, 0, 0, london) }
	_, err = s.Hold(ctx, calendar.Booking{ID: "enq_1", Supplier: "sup_anna", Title: "Smith & Jones wedding",
		Start: day(11), End: day(23), SetupBuffer: 2 * time.Hour})
	fmt.Println("first hold:", err)
	_, err = s.Hold(ctx, calendar.Booking{ID: "enq_2", Supplier: "sup_anna", Title: "Patel wedding", Start: day(9), End: day(12)})
	fmt.Println("second hold refused:", errors.Is(err, calendar.ErrConflict))

	if _, err := s.Confirm(ctx, "enq_1"); err != nil {
		panic(err)
	}
	google.Put("primary", calendar.Event{Summary: "Dentist", Start: time.Date(2027, 6, 4, 9, 0, 0, 0, london), End: time.Date(2027, 6, 4, 10, 0, 0, 0, london)})
	_ = s.SyncNow(ctx, conn.ID)
	_ = s.WaitIdle(ctx)

	for _, ev := range google.Events("primary") {
		fmt.Printf("in the calendar: %s (%s)\n", ev.Summary, ev.Start.Format("Mon 2 Jan 15:04"))
	}
	taken, _ := s.Check(ctx, "sup_anna", calendar.Interval{Start: day(0).AddDate(0, 0, -1), End: day(0).AddDate(0, 0, 1)})
	for _, c := range taken {
		fmt.Printf("taken: %s %s\n", c.Kind, c.Interval.Start.In(london).Format("Mon 15:04"))
	}
	// Output:
	// first hold: <nil>
	// second hold refused: true
	// in the calendar: Dentist (Fri 4 Jun 09:00)
	// in the calendar: Smith & Jones wedding (Sat 5 Jun 11:00)
	// taken: busy Fri 09:00
	// taken: booking Sat 09:00
}
