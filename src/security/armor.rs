//! PEM armor: finds the `-----BEGIN X-----` ... `-----END X-----` sections of a text, with
//! their RFC 1421 headers (`Proc-Type`, `DEK-Info`).
//!
//! rustls-pki-types decodes the sections it knows ([`super::pem`] hands them to it); this
//! scanner exists for what it cannot read: `ENCRYPTED PRIVATE KEY` and headered sections.
//! It only splits text and decodes base64; it knows nothing of what a section holds.

use base64::Engine as _;
use zeroize::Zeroizing;

use super::KeyError;

/// One PEM section, borrowed from the text.
pub(crate) struct Section<'a> {
    /// The word(s) after `BEGIN`: `CERTIFICATE`, `ENCRYPTED PRIVATE KEY`, ...
    pub label: &'a str,
    /// `Name: value` header lines before the base64 body, in order.
    pub headers: Vec<(&'a str, &'a str)>,
    /// The whole section, BEGIN and END lines included.
    pub text: &'a str,
    body: Vec<&'a str>,
}

impl Section<'_> {
    /// The value of header `name` (case-insensitive), if present.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| *v)
    }

    /// The base64 body, decoded. Zeroized on drop: it may be key material.
    pub fn der(&self, what: &'static str) -> Result<Zeroizing<Vec<u8>>, KeyError> {
        let b64: Zeroizing<String> = Zeroizing::new(self.body.concat());
        base64::engine::general_purpose::STANDARD
            .decode(b64.as_bytes())
            .map(Zeroizing::new)
            .map_err(|e| KeyError::Pem {
                what,
                detail: format!("the base64 of the `{}` section is invalid: {e}", self.label),
            })
    }
}

/// Every section of `text`, in order. Text outside sections is ignored (as openssl does).
pub(crate) fn sections<'a>(
    text: &'a str,
    what: &'static str,
) -> Result<Vec<Section<'a>>, KeyError> {
    let mut out = Vec::new();
    let mut lines = LineSpans::new(text);
    while let Some((start, line)) = lines.next() {
        let Some(label) = line
            .trim()
            .strip_prefix("-----BEGIN ")
            .and_then(|l| l.strip_suffix("-----"))
        else {
            continue;
        };
        let mut headers = Vec::new();
        let mut body = Vec::new();
        let mut in_headers = true;
        let mut end = None;
        for (at, line) in lines.by_ref() {
            let line = line.trim();
            if let Some(tail) = line.strip_prefix("-----END ") {
                if tail.strip_suffix("-----") == Some(label) {
                    end = Some(at + line_len(&text[at..]));
                    break;
                }
                return Err(KeyError::Pem {
                    what,
                    detail: format!("the `{label}` section ends with `{line}`"),
                });
            }
            if in_headers {
                if line.is_empty() {
                    in_headers = false;
                    continue;
                }
                if let Some((name, value)) = line.split_once(':') {
                    headers.push((name.trim(), value.trim()));
                    continue;
                }
                in_headers = false;
            }
            if !line.is_empty() {
                body.push(line);
            }
        }
        let Some(end) = end else {
            return Err(KeyError::Pem {
                what,
                detail: format!("the `{label}` section has no `-----END {label}-----` line"),
            });
        };
        out.push(Section {
            label,
            headers,
            text: &text[start..end],
            body,
        });
    }
    Ok(out)
}

/// The length of the first line of `s`, without its line break.
fn line_len(s: &str) -> usize {
    s.find(['\n', '\r']).unwrap_or(s.len())
}

/// Lines of a text with the byte offset each starts at (`\n`, `\r\n` and `\r` breaks).
struct LineSpans<'a> {
    text: &'a str,
    at: usize,
}

impl<'a> LineSpans<'a> {
    fn new(text: &'a str) -> Self {
        Self { text, at: 0 }
    }
}

impl<'a> Iterator for LineSpans<'a> {
    type Item = (usize, &'a str);

    fn next(&mut self) -> Option<Self::Item> {
        let rest = self.text.get(self.at..)?;
        if rest.is_empty() {
            return None;
        }
        let start = self.at;
        let len = line_len(rest);
        let line = &rest[..len];
        let mut next = start + len;
        if rest[len..].starts_with("\r\n") {
            next += 2;
        } else if len < rest.len() {
            next += 1;
        }
        self.at = next;
        Some((start, line))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_sections_with_headers_and_crlf() {
        let text = "junk\r\n-----BEGIN RSA PRIVATE KEY-----\r\nProc-Type: 4,ENCRYPTED\r\n\
                    DEK-Info: AES-256-CBC,00FF\r\n\r\nAAEC\r\nAw==\r\n-----END RSA PRIVATE KEY-----\r\n\
                    -----BEGIN CERTIFICATE-----\nAAEC\n-----END CERTIFICATE-----";
        let s = sections(text, "test").unwrap();
        assert_eq!(s.len(), 2);
        assert_eq!(s[0].label, "RSA PRIVATE KEY");
        assert_eq!(s[0].header("dek-info"), Some("AES-256-CBC,00FF"));
        assert_eq!(s[0].header("Proc-Type"), Some("4,ENCRYPTED"));
        assert_eq!(&**s[0].der("test").unwrap(), &[0, 1, 2, 3]);
        assert!(s[0].text.starts_with("-----BEGIN RSA"));
        assert!(s[0].text.ends_with("KEY-----"));
        assert_eq!(s[1].label, "CERTIFICATE");
        assert_eq!(
            s[1].text,
            "-----BEGIN CERTIFICATE-----\nAAEC\n-----END CERTIFICATE-----"
        );
        assert!(s[1].headers.is_empty());
    }

    #[test]
    fn unterminated_or_mismatched_sections_are_errors() {
        assert!(matches!(
            sections("-----BEGIN CERTIFICATE-----\nAAEC\n", "c"),
            Err(KeyError::Pem { .. })
        ));
        assert!(matches!(
            sections(
                "-----BEGIN CERTIFICATE-----\nAAEC\n-----END PRIVATE KEY-----\n",
                "c"
            ),
            Err(KeyError::Pem { .. })
        ));
        let s = sections("-----BEGIN X-----\n!!\n-----END X-----", "c").unwrap();
        assert!(matches!(s[0].der("c"), Err(KeyError::Pem { .. })));
    }
}
