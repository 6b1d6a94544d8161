package civil

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestTime(t *testing.T) {
	ny, err := time.LoadLocation("America/New_York")
	require.NoError(t, err)
	london, err := time.LoadLocation("Europe/London")
	require.NoError(t, err)
	lordHowe, err := time.LoadLocation("Australia/Lord_Howe") // 30-minute DST
	require.NoError(t, err)
	for _, c := range []struct {
		name string
		got  time.Time
		want string
	}{
		{"ordinary", Time(2027, 6, 5, 11, 0, 0, 0, london), "2027-06-05T10:00:00Z"},
		{"London fall-back 01:30 occurs twice: the first (BST)", Time(2027, 10, 31, 1, 30, 0, 0, london), "2027-10-31T00:30:00Z"},
		{"London fall-back 01:00: the first (BST)", Time(2027, 10, 31, 1, 0, 0, 0, london), "2027-10-31T00:00:00Z"},
		{"London 02:00 after fall-back occurs once", Time(2027, 10, 31, 2, 0, 0, 0, london), "2027-10-31T02:00:00Z"},
		{"New York fall-back 01:30: the first (EDT)", Time(2027, 11, 7, 1, 30, 0, 0, ny), "2027-11-07T05:30:00Z"},
		{"New York spring-forward 02:30 does not exist: offset before (EST)", Time(2027, 3, 14, 2, 30, 0, 0, ny), "2027-03-14T07:30:00Z"},
		{"London spring-forward 01:30 does not exist: offset before (GMT)", Time(2027, 3, 28, 1, 30, 0, 0, london), "2027-03-28T01:30:00Z"},
		{"Lord Howe fall-back 01:45 occurs twice: the first (+11)", Time(2027, 4, 4, 1, 45, 0, 0, lordHowe), "2027-04-03T14:45:00Z"},
		{"UTC", Time(2027, 3, 14, 2, 30, 0, 0, time.UTC), "2027-03-14T02:30:00Z"},
	} {
		require.Equal(t, c.want, c.got.UTC().Format(time.RFC3339), c.name)
	}
	require.Equal(t, "2027-10-31T00:30:00Z", Normalize(time.Date(2027, 10, 31, 1, 30, 0, 0, time.UTC).In(london)).UTC().Format(time.RFC3339),
		"the second 01:30 read again is the first")
}
