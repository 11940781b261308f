package mail

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/require"
)

func TestWrapLongLines_KeepsSMTPLineLimitAndRunes(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("é", 700) // 1400 bytes on one line
	got := wrapLongLines("short\n"+long+"\nend", maxTextLine)
	for _, line := range strings.Split(got, "\n") {
		require.LessOrEqual(t, len(line), maxTextLine)
		require.True(t, utf8.ValidString(line), "no rune split")
	}
	require.Equal(t, "short"+long+"end", strings.ReplaceAll(got, "\n", ""), "nothing lost, only line breaks added")
	require.Equal(t, 4, strings.Count(got, "\n")+1, "the long line became two")
}
