package payhook

import (
	"fmt"
	"strconv"
	"strings"
)

// isoCurrencies lists the ISO 4217 codes payhook accepts.
const isoCurrencies = "AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BHD BIF BMD BND BOB BRL " +
	"BSD BTN BWP BYN BZD CAD CDF CHF CLP CNY COP CRC CUP CVE CZK DJF DKK DOP DZD EGP ERN ETB EUR FJD " +
	"FKP GBP GEL GHS GIP GMD GNF GTQ GYD HKD HNL HTG HUF IDR ILS INR IQD IRR ISK JMD JOD JPY KES KGS " +
	"KHR KMF KPW KRW KWD KYD KZT LAK LBP LKR LRD LSL LYD MAD MDL MGA MKD MMK MNT MOP MRU MUR MVR MWK " +
	"MXN MYR MZN NAD NGN NIO NOK NPR NZD OMR PAB PEN PGK PHP PKR PLN PYG QAR RON RSD RUB RWF SAR SBD " +
	"SCR SDG SEK SGD SHP SLE SOS SRD SSP STN SYP SZL THB TJS TMT TND TOP TRY TTD TWD TZS UAH UGX USD " +
	"UYU UZS VES VND VUV WST XAF XCD XOF XPF YER ZAR ZMW ZWL"

var currencySet = func() map[string]bool {
	m := map[string]bool{}
	for _, c := range strings.Fields(isoCurrencies) {
		m[c] = true
	}
	return m
}()

// KnownCurrency reports whether code is an ISO 4217 currency code payhook accepts.
func KnownCurrency(code string) bool { return currencySet[code] }

// CurrencyDecimals returns the number of decimals of a currency's amounts, as Ottu
// documents them: KWD, BHD, OMR, IQD, JOD and LYD have 3; JPY and KRW 0; all others 2.
func CurrencyDecimals(code string) int {
	switch code {
	case "KWD", "BHD", "OMR", "IQD", "JOD", "LYD":
		return 3
	case "JPY", "KRW":
		return 0
	}
	return 2
}

// maxAmountDigits bounds the integer part of an amount (Ottu: 13 digits).
const maxAmountDigits = 13

// Amount is a money amount in the currency's minor units (fils for KWD, cents for USD).
type Amount int64

// ParseAmount parses a decimal string such as "86", "86.5" or "86.000" in the given
// currency. Fewer decimals than the currency has are padded; more are an error, as are
// signs, exponents and anything but digits and one dot. Zero is allowed here; callers
// that need a positive amount check it.
func ParseAmount(s, currency string) (Amount, error) {
	dec := CurrencyDecimals(currency)
	if s == "" {
		return 0, fmt.Errorf("an amount is required")
	}
	intPart, frac, _ := strings.Cut(s, ".")
	if intPart == "" && frac == "" {
		return 0, fmt.Errorf("%q is not a decimal number", s)
	}
	if intPart == "" {
		intPart = "0"
	}
	if !allDigits(intPart) || !allDigits(frac) {
		return 0, fmt.Errorf("%q is not a decimal number", s)
	}
	if len(strings.TrimLeft(intPart, "0")) > maxAmountDigits {
		return 0, fmt.Errorf("%q has more than %d digits before the decimal point", s, maxAmountDigits)
	}
	if len(frac) > dec {
		if dec == 0 {
			return 0, fmt.Errorf("%q has decimals; %s amounts have none", s, currency)
		}
		return 0, fmt.Errorf("%q has %d decimals; %s amounts have at most %d", s, len(frac), currency, dec)
	}
	frac += strings.Repeat("0", dec-len(frac))
	v, err := strconv.ParseInt(intPart+frac, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%q is out of range", s)
	}
	return Amount(v), nil
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// Format renders the amount with the currency's decimals: "86.000" for KWD.
func (a Amount) Format(currency string) string {
	dec := CurrencyDecimals(currency)
	neg := a < 0
	if neg {
		a = -a
	}
	s := strconv.FormatInt(int64(a), 10)
	if dec > 0 {
		if len(s) <= dec {
			s = strings.Repeat("0", dec-len(s)+1) + s
		}
		s = s[:len(s)-dec] + "." + s[len(s)-dec:]
	}
	if neg {
		s = "-" + s
	}
	return s
}
