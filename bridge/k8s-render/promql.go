package main

// Extraction of the metric names a PromQL expression selects: enough of PromQL's
// lexical structure to tell a metric name from a function, an aggregation or
// grouping clause, a keyword, a label matcher, a duration, a number or a Grafana
// variable.

import (
	"fmt"
	"strings"
)

var promKeywords = map[string]bool{
	"by": true, "without": true, "on": true, "ignoring": true, "group_left": true,
	"group_right": true, "bool": true, "and": true, "or": true, "unless": true,
	"offset": true, "inf": true, "nan": true, "atan2": true,
}

// Aggregation operators may put their by/without clause before the parenthesis.
var promAggregations = map[string]bool{
	"sum": true, "min": true, "max": true, "avg": true, "group": true, "stddev": true,
	"stdvar": true, "count": true, "count_values": true, "bottomk": true, "topk": true,
	"quantile": true, "limitk": true, "limit_ratio": true,
}

// Clauses followed by a parenthesized label list (not a subexpression).
var labelListClauses = map[string]bool{
	"by": true, "without": true, "on": true, "ignoring": true, "group_left": true,
	"group_right": true,
}

func isIdentStart(c byte) bool {
	return c == '_' || c == ':' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
}
func isIdentChar(c byte) bool { return isIdentStart(c) || (c >= '0' && c <= '9') }

// skipBalanced returns the index just past the bracket closing the one at s[i].
func skipBalanced(s string, i int) (int, error) {
	open := s[i]
	close := map[byte]byte{'{': '}', '[': ']', '(': ')'}[open]
	depth := 0
	for j := i; j < len(s); j++ {
		switch s[j] {
		case '"', '\'', '`':
			end, err := skipString(s, j)
			if err != nil {
				return 0, err
			}
			j = end - 1
		case open:
			depth++
		case close:
			depth--
			if depth == 0 {
				return j + 1, nil
			}
		}
	}
	return 0, fmt.Errorf("unbalanced %q", string(open))
}

func skipString(s string, i int) (int, error) {
	q := s[i]
	for j := i + 1; j < len(s); j++ {
		if s[j] == '\\' && q != '`' {
			j++
			continue
		}
		if s[j] == q {
			return j + 1, nil
		}
	}
	return 0, fmt.Errorf("unterminated string")
}

// MetricNames returns the metric names selected by a PromQL expression.
func MetricNames(expr string) ([]string, error) {
	var names []string
	s := expr
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == '"' || c == '\'' || c == '`':
			end, err := skipString(s, i)
			if err != nil {
				return nil, err
			}
			i = end
		case c == '{' || c == '[':
			end, err := skipBalanced(s, i)
			if err != nil {
				return nil, err
			}
			i = end
		case c == '$':
			// Grafana variable: $name, ${name} or $__name.
			i++
			if i < len(s) && s[i] == '{' {
				end, err := skipBalanced(s, i)
				if err != nil {
					return nil, err
				}
				i = end
			}
			for i < len(s) && isIdentChar(s[i]) {
				i++
			}
		case c >= '0' && c <= '9' || c == '.':
			for i < len(s) && (isIdentChar(s[i]) || s[i] == '.' ||
				((s[i] == '+' || s[i] == '-') && (s[i-1] == 'e' || s[i-1] == 'E'))) {
				i++
			}
		case isIdentStart(c):
			j := i
			for j < len(s) && isIdentChar(s[j]) {
				j++
			}
			word := s[i:j]
			k := j
			for k < len(s) && (s[k] == ' ' || s[k] == '\t' || s[k] == '\n') {
				k++
			}
			lw := strings.ToLower(word)
			switch {
			case labelListClauses[lw] && k < len(s) && s[k] == '(':
				end, err := skipBalanced(s, k)
				if err != nil {
					return nil, err
				}
				j = end
			case promKeywords[lw] || promAggregations[lw]:
			case k < len(s) && s[k] == '(':
				// a function or aggregation call
			default:
				names = append(names, word)
			}
			i = j
		default:
			i++
		}
	}
	return names, nil
}
