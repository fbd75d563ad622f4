package democrm

import (
	"strconv"
	"time"
)

// idWeights are the ISO 7064 MOD 11-2 weights (2^(17-i) mod 11) that GB
// 11643-1999 uses for the check digit of an 18-digit resident ID number.
var idWeights = [17]int{7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2}

// idCheckChars maps the weighted sum mod 11 to the check character.
const idCheckChars = "10X98765432"

// idCheckDigit returns the check character for the first 17 digits of an ID
// number. It assumes they are digits.
func idCheckDigit(first17 string) byte {
	sum := 0
	for i := 0; i < 17; i++ {
		sum += int(first17[i]-'0') * idWeights[i]
	}
	return idCheckChars[sum%11]
}

// ValidIDNumber reports whether s is a well-formed 18-digit PRC resident ID
// number (GB 11643-1999): a known province code, a real birth date between
// 1900 and today, and a correct MOD 11-2 check character. A lowercase x is
// accepted, since people and forms often write one. The 15-digit numbers
// issued before 1999 are not accepted.
//
// Format: AAAAAA YYYYMMDD SSS C — area of first registration, birth date,
// sequence (odd for men, even for women), check.
func ValidIDNumber(s string) bool {
	if len(s) != 18 {
		return false
	}
	for i := 0; i < 17; i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	last := s[17]
	if last == 'x' {
		last = 'X'
	}
	if last != idCheckDigit(s) {
		return false
	}
	if !provinceCodes[s[:2]] {
		return false
	}
	return validBirthDate(s[6:14])
}

func validBirthDate(yyyymmdd string) bool {
	y, _ := strconv.Atoi(yyyymmdd[:4])
	m, _ := strconv.Atoi(yyyymmdd[4:6])
	d, _ := strconv.Atoi(yyyymmdd[6:8])
	if y < 1900 || m < 1 || m > 12 || d < 1 || d > 31 {
		return false
	}
	t := time.Date(y, time.Month(m), d, 0, 0, 0, 0, time.UTC)
	if t.Day() != d { // 0230 and the like roll over into the next month
		return false
	}
	return !t.After(time.Now())
}

// makeIDNumber builds a valid ID number from its parts; male chooses the
// parity of the sequence's last digit. seq is taken mod 1000.
func makeIDNumber(area string, birth time.Time, seq int, male bool) string {
	b := make([]byte, 0, 18)
	b = append(b, area...)
	b = birth.AppendFormat(b, "20060102")
	seq %= 1000
	if (seq%2 == 1) != male {
		seq ^= 1 // flip parity, staying within 000-999
	}
	b = append(b, byte('0'+seq/100), byte('0'+seq/10%10), byte('0'+seq%10))
	b = append(b, idCheckDigit(string(b)))
	return string(b)
}

// validMobilePrefix holds the mainland mobile number prefixes the generator
// uses: 130-139, 150-159 except 154, 170/171/173/175-178, 180-189, and 19x
// except 194.
var validMobilePrefix = func() map[string]bool {
	m := map[string]bool{}
	add := func(p ...int) {
		for _, x := range p {
			m[strconv.Itoa(x)] = true
		}
	}
	for i := 130; i <= 139; i++ {
		add(i)
	}
	for i := 150; i <= 159; i++ {
		if i != 154 {
			add(i)
		}
	}
	add(170, 171, 173, 175, 176, 177, 178)
	for i := 180; i <= 189; i++ {
		add(i)
	}
	for i := 190; i <= 199; i++ {
		if i != 194 {
			add(i)
		}
	}
	return m
}()

var mobilePrefixes = func() []string {
	var p []string
	for i := 130; i <= 199; i++ {
		if s := strconv.Itoa(i); validMobilePrefix[s] {
			p = append(p, s)
		}
	}
	return p
}()

// ValidMobile reports whether s is an 11-digit mainland mobile number with
// one of the prefixes the generator uses (no +86, no separators).
func ValidMobile(s string) bool {
	if len(s) != 11 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return validMobilePrefix[s[:3]]
}
