package validate

import (
	"errors"

	"github.com/getkin/kin-openapi/openapi3"
)

// formatOptions adds format validators kin-openapi leaves off by default,
// per validation rather than through its global registry.
func formatOptions() []openapi3.SchemaValidationOption {
	return []openapi3.SchemaValidationOption{openapi3.WithStringFormatValidators(formatValidators())}
}

func formatValidators() map[string]openapi3.StringFormatValidator {
	return map[string]openapi3.StringFormatValidator{
		"uuid":  uuidFormat{},
		"email": openapi3.NewRegexpFormatValidator(openapi3.FormatOfStringForEmail),
		"ipv4":  openapi3.NewIPValidator(true),
		"ipv6":  openapi3.NewIPValidator(false),
	}
}

// uuidFormat accepts what openapi3.FormatOfStringForUUIDOfRFC9562 matches
// (versions 1-8, the Nil and the Max UUID), without a regular expression.
type uuidFormat struct{}

var errNotUUID = errors.New("not a UUID")

// Validate returns an error unless s is a UUID in its 36-character form.
func (uuidFormat) Validate(s string) error {
	if len(s) != 36 {
		return errNotUUID
	}
	zeros, effs := true, true
	for i := 0; i < 36; i++ {
		c := s[i]
		if i == 8 || i == 13 || i == 18 || i == 23 {
			if c != '-' {
				return errNotUUID
			}
			continue
		}
		switch {
		case c >= '0' && c <= '9', c >= 'a' && c <= 'f', c >= 'A' && c <= 'F':
		default:
			return errNotUUID
		}
		zeros = zeros && c == '0'
		effs = effs && (c == 'f' || c == 'F')
	}
	if zeros || effs {
		return nil
	}
	if v := s[14]; v < '1' || v > '8' {
		return errNotUUID
	}
	switch s[19] {
	case '8', '9', 'a', 'b', 'A', 'B':
		return nil
	}
	return errNotUUID
}
