//! Syntax rules for names and addresses: Kafka topic names, `FunctionName`, bootstrap
//! servers, and the generic `arn:PARTITION:SERVICE:REGION:ACCOUNT:RESOURCE` split.
//!
//! Each function takes a string and returns the parsed value or a message (without the
//! field name, which the caller adds). No I/O, no knowledge of where the string came from.

use super::mapping::{BootstrapServer, FunctionName};

/// Kafka's limit on topic name length.
pub const MAX_TOPIC_NAME_LEN: usize = 249;

/// Checks a Kafka topic name: 1..=249 characters of `[a-zA-Z0-9._-]`, not `.` or `..`.
pub fn check_topic(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("must not be empty".into());
    }
    if name == "." || name == ".." {
        return Err(format!("\"{name}\" is not a valid Kafka topic name"));
    }
    if name.len() > MAX_TOPIC_NAME_LEN {
        return Err(format!(
            "must be at most {MAX_TOPIC_NAME_LEN} characters, got {}",
            name.chars().count()
        ));
    }
    if let Some(c) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')))
    {
        return Err(format!(
            "\"{name}\" is not a valid Kafka topic name: {c:?} is not one of a-z, A-Z, 0-9, '.', '_', '-'"
        ));
    }
    Ok(())
}

/// AWS's limit on `FunctionName` in CreateEventSourceMapping.
pub const MAX_FUNCTION_NAME_LEN: usize = 140;

fn is_name_token(s: &str) -> bool {
    !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

/// `[a-z]{2}(-gov)?-[a-z]+-\d`: the region part of a Lambda ARN.
fn is_lambda_region(s: &str) -> bool {
    let parts: Vec<&str> = s.split('-').collect();
    let lower = |p: &str| !p.is_empty() && p.chars().all(|c| c.is_ascii_lowercase());
    let (head, middle, last) = match parts.as_slice() {
        [h, m, d] => (*h, vec![*m], *d),
        [h, "gov", m, d] => (*h, vec![*m], *d),
        _ => return false,
    };
    head.len() == 2
        && lower(head)
        && middle.iter().all(|m| lower(m))
        && last.len() == 1
        && last.chars().all(|c| c.is_ascii_digit())
}

fn is_account(s: &str) -> bool {
    s.len() == 12 && s.chars().all(|c| c.is_ascii_digit())
}

/// `(aws[a-zA-Z-]*)?`: a partition, possibly empty as AWS's pattern allows.
fn is_partition(s: &str) -> bool {
    s.is_empty()
        || (s.starts_with("aws") && s[3..].chars().all(|c| c.is_ascii_alphabetic() || c == '-'))
}

/// Parses `FunctionName` as AWS's pattern does:
/// `(arn:(aws[a-zA-Z-]*)?:lambda:)?([a-z]{2}(-gov)?-[a-z]+-\d{1}:)?(\d{12}:)?(function:)?([a-zA-Z0-9-_]+)(:(\$LATEST|[a-zA-Z0-9-_]+))?`,
/// 1..=140 characters. Optional parts are taken greedily, left to right, like the regex.
pub fn parse_function_name(raw: &str) -> Result<FunctionName, String> {
    if raw.is_empty() {
        return Err("must not be empty".into());
    }
    if raw.len() > MAX_FUNCTION_NAME_LEN {
        return Err(format!(
            "must be at most {MAX_FUNCTION_NAME_LEN} characters, got {}",
            raw.chars().count()
        ));
    }
    let tokens: Vec<&str> = raw.split(':').collect();
    // Optional parts, in order: ARN prefix (3 tokens), region, account, "function",
    // qualifier. Masks from all-present down try the greedy reading first.
    for mask in (0u8..32).rev() {
        let has = |bit: u8| mask & (1 << (4 - bit)) != 0;
        let needed = 3 * usize::from(has(0))
            + usize::from(has(1))
            + usize::from(has(2))
            + usize::from(has(3))
            + 1
            + usize::from(has(4));
        if needed != tokens.len() {
            continue;
        }
        let mut t = tokens.iter().copied();
        let mut ok = true;
        if has(0) {
            let (a, p, l) = (t.next(), t.next(), t.next());
            ok &= a == Some("arn") && p.is_some_and(is_partition) && l == Some("lambda");
        }
        let region = has(1).then(|| t.next()).flatten();
        ok &= region.is_none_or(is_lambda_region);
        let account = has(2).then(|| t.next()).flatten();
        ok &= account.is_none_or(is_account);
        if has(3) {
            ok &= t.next() == Some("function");
        }
        let name = t.next().unwrap_or_default();
        ok &= is_name_token(name);
        let qualifier = has(4).then(|| t.next()).flatten();
        ok &= qualifier.is_none_or(|q| q == "$LATEST" || is_name_token(q));
        if ok {
            return Ok(FunctionName {
                raw: raw.to_owned(),
                name: name.to_owned(),
                qualifier: qualifier.map(str::to_owned),
                region: region.map(str::to_owned),
                account: account.map(str::to_owned),
            });
        }
    }
    Err(format!(
        "\"{raw}\" is not a function name (my-function), a partial ARN \
         (123456789012:function:my-function) or a function ARN \
         (arn:aws:lambda:us-east-1:123456789012:function:my-function), optionally with \
         :VERSION or :ALIAS"
    ))
}

/// Parses one `host:port` (IPv6 in brackets: `[::1]:9092`).
pub fn parse_bootstrap_server(s: &str) -> Result<BootstrapServer, String> {
    let bad = |why: &str| Err(format!("\"{s}\" is not host:port: {why}"));
    let (host, port) = if let Some(rest) = s.strip_prefix('[') {
        let Some((host, after)) = rest.split_once(']') else {
            return bad("missing ']' after the IPv6 address");
        };
        let Some(port) = after.strip_prefix(':') else {
            return bad("missing :port");
        };
        if host.parse::<std::net::Ipv6Addr>().is_err() {
            return bad("not an IPv6 address in the brackets");
        }
        (host, port)
    } else {
        let Some((host, port)) = s.rsplit_once(':') else {
            return bad("missing :port");
        };
        if host.contains(':') {
            return bad("put an IPv6 address in brackets, as [::1]:9092");
        }
        if host.is_empty() {
            return bad("empty host");
        }
        if let Some(c) = host
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_')))
        {
            return bad(&format!("{c:?} cannot appear in a host name"));
        }
        (host, port)
    };
    match port.parse::<u32>() {
        Ok(p @ 1..=65535) => Ok(BootstrapServer {
            host: host.to_owned(),
            port: p as u16,
        }),
        _ => bad("the port must be between 1 and 65535"),
    }
}

/// An ARN split into its parts.
#[derive(Debug, PartialEq, Eq)]
pub struct Arn<'a> {
    pub partition: &'a str,
    pub service: &'a str,
    pub region: &'a str,
    pub account: &'a str,
    pub resource: &'a str,
}

/// Splits `arn:PARTITION:SERVICE:REGION:ACCOUNT:RESOURCE` (the resource may hold ':').
/// Checks only the shape: a partition `aws` or `aws-*`, and a service.
pub fn split_arn(s: &str) -> Option<Arn<'_>> {
    let mut it = s.splitn(6, ':');
    if it.next()? != "arn" {
        return None;
    }
    let arn = Arn {
        partition: it.next()?,
        service: it.next()?,
        region: it.next()?,
        account: it.next()?,
        resource: it.next()?,
    };
    let partition_ok = arn.partition == "aws" || arn.partition.starts_with("aws-");
    (partition_ok && !arn.service.is_empty()).then_some(arn)
}

/// A region such as `us-east-1` or `us-gov-west-1`: lowercase letters, digits and '-'.
pub fn is_region(s: &str) -> bool {
    !s.is_empty()
        && !s.starts_with('-')
        && !s.ends_with('-')
        && s.contains('-')
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}

/// True for a 12-digit account id.
pub fn is_account_id(s: &str) -> bool {
    is_account(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topic_names() {
        for ok in ["a", "orders", "my.topic_v2-x", &"t".repeat(249)] {
            assert_eq!(check_topic(ok), Ok(()), "{ok}");
        }
        assert_eq!(check_topic("").unwrap_err(), "must not be empty");
        assert!(
            check_topic(".")
                .unwrap_err()
                .contains("not a valid Kafka topic name")
        );
        assert!(check_topic("..").is_err());
        assert_eq!(
            check_topic(&"t".repeat(250)).unwrap_err(),
            "must be at most 249 characters, got 250"
        );
        assert!(check_topic("a b").unwrap_err().contains("' '"));
        assert!(check_topic("a/b").is_err());
        assert!(check_topic("é").is_err());
    }

    #[test]
    fn function_names_in_every_form_aws_accepts() {
        let f = parse_function_name("my-function").unwrap();
        assert_eq!((f.name.as_str(), f.qualifier), ("my-function", None));
        let f = parse_function_name("my_function:live").unwrap();
        assert_eq!(
            (f.name.as_str(), f.qualifier.as_deref()),
            ("my_function", Some("live"))
        );
        let f = parse_function_name("123456789012:function:my-function").unwrap();
        assert_eq!(f.account.as_deref(), Some("123456789012"));
        assert_eq!(f.name, "my-function");
        let f = parse_function_name(
            "arn:aws:lambda:us-west-2:123456789012:function:my-function:$LATEST",
        )
        .unwrap();
        assert_eq!(f.region.as_deref(), Some("us-west-2"));
        assert_eq!(f.account.as_deref(), Some("123456789012"));
        assert_eq!(f.name, "my-function");
        assert_eq!(f.qualifier.as_deref(), Some("$LATEST"));
        assert_eq!(
            f.raw,
            "arn:aws:lambda:us-west-2:123456789012:function:my-function:$LATEST"
        );
        let f =
            parse_function_name("arn:aws-us-gov:lambda:us-gov-west-1:123456789012:function:f:7")
                .unwrap();
        assert_eq!(f.region.as_deref(), Some("us-gov-west-1"));
        assert_eq!(f.qualifier.as_deref(), Some("7"));
    }

    #[test]
    fn function_names_aws_refuses() {
        assert_eq!(parse_function_name("").unwrap_err(), "must not be empty");
        assert_eq!(
            parse_function_name(&"f".repeat(141)).unwrap_err(),
            "must be at most 140 characters, got 141"
        );
        for bad in [
            "my function",
            "my.function",
            "f:$NOTLATEST",
            "arn:aws:sqs:us-east-1:123456789012:function:f",
            "arn:aws:lambda:us-east-1:12345:function:f",
            "f:a:b",
            ":f",
            "f:",
        ] {
            let e = parse_function_name(bad).unwrap_err();
            assert!(e.contains("is not a function name"), "{bad}: {e}");
        }
    }

    #[test]
    fn bootstrap_servers() {
        assert_eq!(
            parse_bootstrap_server("b-1.example.com:9092").unwrap(),
            BootstrapServer {
                host: "b-1.example.com".into(),
                port: 9092
            }
        );
        let v6 = parse_bootstrap_server("[::1]:9093").unwrap();
        assert_eq!((v6.host.as_str(), v6.port), ("::1", 9093));
        assert_eq!(v6.to_string(), "[::1]:9093");
        assert_eq!(
            parse_bootstrap_server("10.0.0.1:65535")
                .unwrap()
                .to_string(),
            "10.0.0.1:65535"
        );
        for (bad, why) in [
            ("broker", "missing :port"),
            ("broker:0", "between 1 and 65535"),
            ("broker:65536", "between 1 and 65535"),
            ("broker:x", "between 1 and 65535"),
            (":9092", "empty host"),
            ("::1:9092", "brackets"),
            ("[::1:9092", "missing ']'"),
            ("[nothost]:9092", "IPv6"),
            ("bro ker:9092", "cannot appear"),
            ("[::1]", "missing :port"),
        ] {
            let e = parse_bootstrap_server(bad).unwrap_err();
            assert!(e.contains(why), "{bad}: {e}");
        }
    }

    #[test]
    fn arns() {
        let a = split_arn("arn:aws:secretsmanager:us-east-1:123456789012:secret:a:b").unwrap();
        assert_eq!(a.service, "secretsmanager");
        assert_eq!(a.resource, "secret:a:b");
        assert!(split_arn("arn:aws:s3:::bucket").is_some());
        assert!(split_arn("arn:foo:s3:::bucket").is_none());
        assert!(split_arn("arn:aws:s3::").is_none());
        assert!(split_arn("nope").is_none());
        assert!(is_region("eu-central-1") && is_region("us-gov-west-1"));
        assert!(!is_region("") && !is_region("US-EAST-1") && !is_region("useast"));
    }
}
