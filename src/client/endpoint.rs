//! Where the server is: `--base-url`, else `OLLAMA_HOST`, else Ollama's default.

use thiserror::Error;

/// Ollama's default address.
pub const DEFAULT_OLLAMA_URL: &str = "http://127.0.0.1:11434";

/// A base URL that cannot be used.
#[derive(Debug, Error, PartialEq, Eq)]
#[error("invalid server address `{given}` (from {source_name}): {reason}; expected host:port or http://host:port")]
pub struct BadBaseUrl {
    /// The text as given.
    pub given: String,
    /// Where it came from (`--base-url` or `OLLAMA_HOST`).
    pub source_name: &'static str,
    /// What is wrong with it.
    pub reason: String,
}

/// Resolves the base URL: `explicit` (from `--base-url`) wins over `OLLAMA_HOST`,
/// which wins over [`DEFAULT_OLLAMA_URL`]. Accepts `host`, `host:port`, `:port`
/// and `http(s)://host[:port][/path]`, as Ollama does; returns it without a trailing
/// slash. Guarantees: the result starts with `http://` or `https://` and has a host.
pub fn resolve_base_url(
    explicit: Option<&str>,
    ollama_host: Option<&str>,
) -> Result<String, BadBaseUrl> {
    match (explicit, ollama_host) {
        (Some(url), _) => normalize(url, "--base-url"),
        (None, Some(host)) if !host.trim().is_empty() => normalize(host, "OLLAMA_HOST"),
        _ => Ok(DEFAULT_OLLAMA_URL.to_string()),
    }
}

fn normalize(given: &str, source_name: &'static str) -> Result<String, BadBaseUrl> {
    let bad = |reason: &str| BadBaseUrl {
        given: given.to_string(),
        source_name,
        reason: reason.to_string(),
    };
    let text = given.trim().trim_end_matches('/');
    let (scheme, rest) = match text.split_once("://") {
        Some((s, rest)) if s.eq_ignore_ascii_case("http") => ("http", rest),
        Some((s, rest)) if s.eq_ignore_ascii_case("https") => ("https", rest),
        Some((s, _)) => return Err(bad(&format!("unsupported scheme `{s}`"))),
        None => ("http", text),
    };
    let (authority, path) = match rest.find('/') {
        Some(i) => rest.split_at(i),
        None => (rest, ""),
    };
    let (host, port) = split_host_port(authority);
    let host = match host {
        "" => "127.0.0.1",
        "0.0.0.0" => "127.0.0.1",
        h => h,
    };
    if host.contains(char::is_whitespace) {
        return Err(bad("the host contains whitespace"));
    }
    let port = match port {
        Some(p) => p
            .parse::<u16>()
            .map_err(|_| bad("the port is not a number 0-65535"))?,
        None if scheme == "https" => 443,
        None if given.contains("://") => 80,
        None => 11434,
    };
    Ok(format!("{scheme}://{host}:{port}{path}"))
}

/// Splits an authority into its host (an IPv6 literal keeps its brackets) and
/// the text after the port's colon, if any (not checked to be a number).
pub(crate) fn split_host_port(authority: &str) -> (&str, Option<&str>) {
    if let Some(rest) = authority.strip_prefix('[') {
        if let Some((v6, tail)) = rest.split_once(']') {
            let host = &authority[..v6.len() + 2];
            return (host, tail.strip_prefix(':'));
        }
    }
    match authority.rsplit_once(':') {
        Some((h, p)) => (h, Some(p)),
        None => (authority, None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn precedence_and_forms() {
        assert_eq!(resolve_base_url(None, None).unwrap(), DEFAULT_OLLAMA_URL);
        assert_eq!(
            resolve_base_url(None, Some("10.0.0.5")).unwrap(),
            "http://10.0.0.5:11434"
        );
        assert_eq!(
            resolve_base_url(None, Some(":9999")).unwrap(),
            "http://127.0.0.1:9999"
        );
        assert_eq!(
            resolve_base_url(Some("http://localhost:8080/"), Some("x:1")).unwrap(),
            "http://localhost:8080"
        );
        assert_eq!(
            resolve_base_url(None, Some("0.0.0.0:11434")).unwrap(),
            "http://127.0.0.1:11434"
        );
        assert_eq!(
            resolve_base_url(Some("[::1]:5"), None).unwrap(),
            "http://[::1]:5"
        );
        assert_eq!(
            resolve_base_url(Some("https://h/ollama"), None).unwrap(),
            "https://h:443/ollama"
        );
    }

    #[test]
    fn bad_input_names_the_source() {
        let e = resolve_base_url(None, Some("host:port")).unwrap_err();
        assert!(e.to_string().contains("OLLAMA_HOST"), "{e}");
        let e = resolve_base_url(Some("ftp://x"), None).unwrap_err();
        assert!(e.to_string().contains("--base-url"), "{e}");
    }
}
