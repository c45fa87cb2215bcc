//! Classifying a dial target with a numbering plan.

use serde::{Deserialize, Serialize};

use crate::NumberClass;

/// A numbering plan: the country's, plus the university's own extensions.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NumberingPlan {
    /// The country calling code, without `+` (Spain: `34`).
    pub country_code: String,
    /// What is dialled before a country code (`00`); `+` always works.
    pub international_prefix: String,
    /// Digits of a national (significant) number (Spain: 9).
    pub national_length: usize,
    /// A digit the university's platform wants before an outside number
    /// (often `0`); stripped before classifying. None: numbers are dialled
    /// as they are.
    #[serde(default)]
    pub outside_line_prefix: Option<String>,
    /// The university's extensions, matched on the digits as dialled,
    /// before anything else.
    pub internal: Vec<InternalRule>,
    /// SIP domains of the university's own platform: a SIP address there
    /// is internal whatever its user part.
    #[serde(default)]
    pub internal_domains: Vec<String>,
    /// Numbers dialled as they are, without area code (112, 118xx, …).
    pub short: Vec<ShortNumber>,
    /// National numbers by prefix; the longest matching prefix wins.
    pub national: Vec<NationalRule>,
    /// Prefixes of geographic numbers that are local to the university.
    pub local_prefixes: Vec<String>,
}

/// Extensions: `length` digits starting with `prefix`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InternalRule {
    #[serde(default)]
    pub prefix: String,
    pub length: usize,
}

/// A short number: exactly `number`, or `length` digits starting with it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShortNumber {
    pub number: String,
    #[serde(default)]
    pub length: Option<usize>,
    pub class: NumberClass,
}

/// National numbers starting with `prefix`. A `geographic` rule gives
/// [`NumberClass::Local`] for numbers under one of the plan's local
/// prefixes and its `class` (national) otherwise.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NationalRule {
    pub prefix: String,
    pub class: NumberClass,
    #[serde(default)]
    pub geographic: bool,
}

/// A classified dial target.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Classified {
    pub class: NumberClass,
    /// The number in one canonical form, for comparing with approved
    /// numbers: E.164 (`+34612345678`) for numbers of the public network,
    /// the digits of an extension or short number, or the SIP address.
    pub canonical: String,
}

/// Why a target could not be classified.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum NumberError {
    #[error("{0:?} is empty")]
    Empty(String),
    #[error("{0:?} has characters a phone number cannot have")]
    NotDigits(String),
    #[error("{0:?} is not a number of the numbering plan (national numbers have {1} digits)")]
    Unknown(String, usize),
}

impl Default for NumberingPlan {
    /// Spain's plan (CNMC), with four-digit internal extensions and
    /// Barcelona's area (93, 83) as local: a site sets its own extensions
    /// and local prefixes.
    fn default() -> Self {
        let national = |prefix: &str, class| NationalRule {
            prefix: prefix.into(),
            class,
            geographic: false,
        };
        let geographic = |prefix: &str| NationalRule {
            prefix: prefix.into(),
            class: NumberClass::National,
            geographic: true,
        };
        let short = |number: &str, length: Option<usize>, class| ShortNumber {
            number: number.into(),
            length,
            class,
        };
        use NumberClass::*;
        NumberingPlan {
            country_code: "34".into(),
            international_prefix: "00".into(),
            national_length: 9,
            outside_line_prefix: None,
            internal: vec![InternalRule {
                prefix: String::new(),
                length: 4,
            }],
            internal_domains: Vec::new(),
            short: vec![
                short("112", None, Emergency),
                short("061", None, Emergency),  // medical emergencies
                short("062", None, Emergency),  // Guardia Civil
                short("080", None, Emergency),  // fire brigade
                short("085", None, Emergency),  // fire brigade
                short("088", None, Emergency),  // regional police
                short("091", None, Emergency),  // national police
                short("092", None, Emergency),  // local police
                short("016", None, Emergency),  // gender violence helpline, free
                short("118", Some(5), Premium), // directory enquiries
            ],
            national: vec![
                geographic("8"),
                geographic("9"),
                national("800", National), // freephone
                national("900", National), // freephone
                national("803", Premium),
                national("806", Premium),
                national("807", Premium),
                national("905", Premium),
                national("907", Premium),
                national("901", Premium), // shared cost
                national("902", Premium), // universal access, charged
                national("51", National), // corporate networks
                national("6", Mobile),
                national("71", Mobile),
                national("72", Mobile),
                national("73", Mobile),
                national("74", Mobile),
                national("70", Premium), // personal numbers
            ],
            local_prefixes: vec!["93".into(), "83".into()],
        }
    }
}

impl NumberingPlan {
    /// The class of `target`: digits as dialled (`4321`, `612 345 678`,
    /// `+44 20 7946 0000`, `0044…`), a `tel:` URI, or a SIP URI. A SIP
    /// URI whose user part is a number is that number (it goes out through
    /// a gateway, and costs what the number costs); one with a name
    /// (`sip:desk@pbx.example.edu`) is reached over SIP, not the telephone
    /// network, and is internal: it costs no call charge.
    pub fn classify(&self, target: &str) -> Result<Classified, NumberError> {
        let target = target.trim();
        if let Some(address) = target
            .strip_prefix("sip:")
            .or_else(|| target.strip_prefix("sips:"))
        {
            return self.classify_sip(target, address);
        }
        let number = target.strip_prefix("tel:").unwrap_or(target);
        let number = number.split(';').next().unwrap_or_default();
        self.classify_number(target, number)
    }

    fn classify_sip(&self, target: &str, address: &str) -> Result<Classified, NumberError> {
        let address = address.split(['?', ';']).next().unwrap_or_default();
        let (user, host) = match address.rsplit_once('@') {
            Some((user, host)) => (user, host),
            None => ("", address),
        };
        let host = host
            .split(':')
            .next()
            .unwrap_or_default()
            .to_ascii_lowercase();
        let internal_host = self
            .internal_domains
            .iter()
            .any(|d| d.eq_ignore_ascii_case(&host));
        let looks_like_number = !user.is_empty()
            && user
                .chars()
                .all(|c| c.is_ascii_digit() || "+-. ()".contains(c));
        if internal_host && (!looks_like_number || self.internal_match(&digits_only(user))) {
            return Ok(Classified {
                class: NumberClass::Internal,
                canonical: format!("sip:{user}@{host}"),
            });
        }
        if looks_like_number {
            return self.classify_number(target, user);
        }
        if host.is_empty() {
            return Err(NumberError::Empty(target.to_string()));
        }
        Ok(Classified {
            class: NumberClass::Internal,
            canonical: format!("sip:{user}@{host}"),
        })
    }

    fn classify_number(&self, target: &str, number: &str) -> Result<Classified, NumberError> {
        let (plus, digits) = match number.trim().strip_prefix('+') {
            Some(rest) => (true, rest),
            None => (false, number.trim()),
        };
        if digits
            .chars()
            .any(|c| !(c.is_ascii_digit() || " -.()".contains(c)))
        {
            return Err(NumberError::NotDigits(target.to_string()));
        }
        let digits = digits_only(digits);
        if digits.is_empty() {
            return Err(NumberError::Empty(target.to_string()));
        }
        if plus {
            return self.classify_international(target, &digits);
        }
        // With an outside-line prefix, what starts with it is an outside
        // number (extensions never do); without one, extensions first.
        let outside = self
            .outside_line_prefix
            .as_deref()
            .filter(|p| !p.is_empty() && digits.len() > p.len() && digits.starts_with(*p));
        let rest = match outside {
            Some(prefix) => &digits[prefix.len()..],
            None => {
                if self.internal_match(&digits) {
                    return Ok(Classified {
                        class: NumberClass::Internal,
                        canonical: digits,
                    });
                }
                digits.as_str()
            }
        };
        if let Some(class) = self.short_match(rest) {
            return Ok(Classified {
                class,
                canonical: rest.to_string(),
            });
        }
        if let Some(international) = rest.strip_prefix(&self.international_prefix) {
            if !self.international_prefix.is_empty() {
                return self.classify_international(target, international);
            }
        }
        self.classify_national(target, rest)
    }

    /// Digits after `+` or the international prefix: the country code, then
    /// the number.
    fn classify_international(
        &self,
        target: &str,
        digits: &str,
    ) -> Result<Classified, NumberError> {
        match digits.strip_prefix(&self.country_code) {
            Some(national) => self.classify_national(target, national),
            None if digits.len() >= 4 && digits.len() <= 15 => Ok(Classified {
                class: NumberClass::International,
                canonical: format!("+{digits}"),
            }),
            None => Err(NumberError::Unknown(
                target.to_string(),
                self.national_length,
            )),
        }
    }

    fn classify_national(&self, target: &str, digits: &str) -> Result<Classified, NumberError> {
        if digits.len() != self.national_length {
            return Err(NumberError::Unknown(
                target.to_string(),
                self.national_length,
            ));
        }
        let rule = self
            .national
            .iter()
            .filter(|r| digits.starts_with(&r.prefix))
            .max_by_key(|r| r.prefix.len())
            .ok_or_else(|| NumberError::Unknown(target.to_string(), self.national_length))?;
        let class = if rule.geographic
            && self
                .local_prefixes
                .iter()
                .any(|p| digits.starts_with(p.as_str()))
        {
            NumberClass::Local
        } else {
            rule.class
        };
        Ok(Classified {
            class,
            canonical: format!("+{}{digits}", self.country_code),
        })
    }

    fn internal_match(&self, digits: &str) -> bool {
        self.internal
            .iter()
            .any(|r| digits.len() == r.length && digits.starts_with(&r.prefix))
    }

    fn short_match(&self, digits: &str) -> Option<NumberClass> {
        self.short
            .iter()
            .find(|s| match s.length {
                None => digits == s.number,
                Some(length) => digits.len() == length && digits.starts_with(&s.number),
            })
            .map(|s| s.class)
    }
}

fn digits_only(text: &str) -> String {
    text.chars().filter(char::is_ascii_digit).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use NumberClass::*;

    fn class(target: &str) -> NumberClass {
        NumberingPlan::default()
            .classify(target)
            .unwrap_or_else(|e| panic!("{target}: {e}"))
            .class
    }

    #[test]
    fn spanish_numbers_fall_in_their_classes() {
        assert_eq!(class("4321"), Internal);
        assert_eq!(class("112"), Emergency);
        assert_eq!(class("091"), Emergency);
        assert_eq!(class("934 123 456"), Local);
        assert_eq!(class("+34 934 123 456"), Local);
        assert_eq!(class("0034934123456"), Local);
        assert_eq!(class("915 123 456"), National);
        assert_eq!(class("900 123 456"), National);
        assert_eq!(class("612 345 678"), Mobile);
        assert_eq!(class("+34 712 345 678"), Mobile);
        assert_eq!(class("806 123 456"), Premium);
        assert_eq!(class("902 123 456"), Premium);
        assert_eq!(class("11822"), Premium);
        assert_eq!(class("+44 20 7946 0000"), International);
        assert_eq!(class("0033 1 23 45 67 89"), International);
        assert_eq!(class("tel:+34612345678"), Mobile);
    }

    #[test]
    fn canonical_forms_compare_across_spellings() {
        let plan = NumberingPlan::default();
        let a = plan.classify("612 345 678").unwrap();
        let b = plan.classify("+34612345678").unwrap();
        let c = plan.classify("0034-612-345-678").unwrap();
        assert_eq!(a.canonical, "+34612345678");
        assert_eq!(a, b);
        assert_eq!(b, c);
    }

    #[test]
    fn sip_addresses_are_internal_on_the_platform_and_numbers_otherwise() {
        let plan = NumberingPlan {
            internal_domains: vec!["pbx.university.example".into()],
            ..NumberingPlan::default()
        };
        let class = |t: &str| plan.classify(t).unwrap().class;
        assert_eq!(class("sip:desk@pbx.university.example"), Internal);
        assert_eq!(class("sip:2001@PBX.University.Example:5060"), Internal);
        assert_eq!(class("sip:612345678@pbx.university.example"), Mobile);
        assert_eq!(class("sip:+34612345678@carrier.example"), Mobile);
        assert_eq!(class("sip:someone@example.com"), Internal, "no call charge");
    }

    #[test]
    fn an_outside_line_prefix_is_stripped() {
        let plan = NumberingPlan {
            outside_line_prefix: Some("0".into()),
            ..NumberingPlan::default()
        };
        assert_eq!(plan.classify("0612345678").unwrap().class, Mobile);
        assert_eq!(plan.classify("0112").unwrap().class, Emergency);
        assert_eq!(
            plan.classify("00044207946000").unwrap().class,
            International
        );
    }

    #[test]
    fn what_is_not_a_number_is_refused_with_a_reason() {
        let plan = NumberingPlan::default();
        for bad in [
            "",
            "  ",
            "abc",
            "61234567",
            "6123456789",
            "+",
            "555 123 456",
            "12#4",
        ] {
            let error = plan.classify(bad).expect_err(bad);
            assert!(!error.to_string().is_empty());
        }
    }

    #[test]
    fn a_plan_reads_from_yaml() {
        let yaml = serde_norway::to_string(&NumberingPlan::default()).unwrap();
        let plan: NumberingPlan = serde_norway::from_str(&yaml).unwrap();
        assert_eq!(plan, NumberingPlan::default());
    }

    proptest::proptest! {
        #[test]
        fn classify_never_panics(target in "\\PC{0,40}") {
            let _ = NumberingPlan::default().classify(&target);
        }

        #[test]
        fn every_nine_digit_number_has_one_answer(n in 100_000_000u64..1_000_000_000) {
            let plan = NumberingPlan::default();
            let national = plan.classify(&n.to_string()).ok();
            let e164 = plan.classify(&format!("+34{n}")).ok();
            let international = plan.classify(&format!("0034{n}")).ok();
            proptest::prop_assert_eq!(&national, &e164);
            proptest::prop_assert_eq!(&national, &international);
        }
    }
}
