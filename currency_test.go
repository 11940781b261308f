package payhook

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestParseAmount_PadsAndRefusesExtraDecimals(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in, ccy, want string
		err           bool
	}{
		{"20", "KWD", "20.000", false},
		{"20.5", "KWD", "20.500", false},
		{"86.000", "KWD", "86.000", false},
		{"15.00", "SAR", "15.00", false},
		{".5", "USD", "0.50", false},
		{"0", "USD", "0.00", false},
		{"1000", "JPY", "1000", false},
		{"1000.0", "JPY", "", true},
		{"20.0001", "KWD", "", true},
		{"15.001", "SAR", "", true},
		{"-5", "USD", "", true},
		{"1e3", "USD", "", true},
		{"", "USD", "", true},
		{".", "USD", "", true},
		{"12345678901234", "USD", "", true},
		{"1,5", "USD", "", true},
	}
	for _, tt := range tests {
		a, err := ParseAmount(tt.in, tt.ccy)
		if tt.err {
			require.Error(t, err, tt.in)
			continue
		}
		require.NoError(t, err, tt.in)
		require.Equal(t, tt.want, a.Format(tt.ccy), tt.in)
	}
}

func TestAmountFormat_SmallValues(t *testing.T) {
	t.Parallel()
	require.Equal(t, "0.001", Amount(1).Format("KWD"))
	require.Equal(t, "0.05", Amount(5).Format("USD"))
	require.Equal(t, "-1.50", Amount(-150).Format("USD"))
	require.Equal(t, "7", Amount(7).Format("JPY"))
}
