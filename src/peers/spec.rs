//! What `agentbench peers` is told: agents (`NAME=CMD`) and the backend.

use std::fmt;

use super::PeersError;

/// How an agent is started.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AgentCommand {
    /// agentbench's own agent: this binary's hidden `agent` subcommand, run as a
    /// child process like any other agent.
    Builtin,
    /// A program and its leading arguments (`--base-url URL --runs N --out FILE`
    /// are appended).
    External(Vec<String>),
}

/// One `--agent NAME=CMD`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentSpec {
    /// The agent's name: letters, digits, `-`, `_`, `.`; used as a folder name.
    pub name: String,
    /// How it is started.
    pub command: AgentCommand,
    /// The command as given (for the report).
    pub given: String,
}

impl AgentSpec {
    /// Parses `NAME=CMD`: `NAME=builtin` is agentbench's own agent; any other CMD is
    /// split into words like a POSIX shell would (single and double quotes,
    /// backslash escapes) but without expansion, pipes or redirections. Errors name
    /// the flag and the expected form; nothing panics on user input.
    pub fn parse(s: &str) -> Result<Self, PeersError> {
        let bad = |reason: String| PeersError::BadAgent {
            given: s.to_string(),
            reason,
        };
        let (name, cmd) = s.split_once('=').ok_or_else(|| bad("no `=`".to_string()))?;
        let name = name.trim();
        if name.is_empty() {
            return Err(bad("the NAME before `=` is empty".to_string()));
        }
        if name.len() > 64
            || !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
            || name.starts_with('.')
        {
            return Err(bad(format!(
                "NAME {name:?} must be 1–64 characters of letters, digits, `-`, `_`, `.` (not starting with `.`)"
            )));
        }
        let cmd = cmd.trim();
        let command = if cmd == "builtin" {
            AgentCommand::Builtin
        } else {
            let words = split_words(cmd).map_err(|r| bad(format!("CMD: {r}")))?;
            if words.is_empty() {
                return Err(bad("the CMD after `=` is empty".to_string()));
            }
            AgentCommand::External(words)
        };
        Ok(AgentSpec {
            name: name.to_string(),
            command,
            given: cmd.to_string(),
        })
    }
}

/// Splits a command line into words: whitespace separates words; `'…'` keeps its
/// content literally; `"…"` keeps its content with `\"`, `\\`, `\$`, `` \` `` unescaped;
/// a backslash outside quotes escapes the next character. No expansion of any kind.
pub fn split_words(s: &str) -> Result<Vec<String>, String> {
    let mut words = Vec::new();
    let mut cur = String::new();
    let mut in_word = false;
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        match c {
            c if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut cur));
                    in_word = false;
                }
            }
            '\'' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(c) => cur.push(c),
                        None => return Err("unterminated single quote".into()),
                    }
                }
            }
            '"' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some(c @ ('"' | '\\' | '$' | '`')) => cur.push(c),
                            Some(c) => {
                                cur.push('\\');
                                cur.push(c);
                            }
                            None => return Err("unterminated double quote".into()),
                        },
                        Some(c) => cur.push(c),
                        None => return Err("unterminated double quote".into()),
                    }
                }
            }
            '\\' => {
                in_word = true;
                match chars.next() {
                    Some(c) => cur.push(c),
                    None => return Err("trailing backslash".into()),
                }
            }
            c => {
                in_word = true;
                cur.push(c);
            }
        }
    }
    if in_word {
        words.push(cur);
    }
    Ok(words)
}

/// The server every agent talks to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PeerBackend {
    /// The embedded zero-latency instant stub (client overhead = the client's cost).
    Instant,
    /// The embedded paced stub (TTFT 200 ms, 50 gaps of 20 ms).
    Paced,
    /// A server at this URL (e.g. a real Ollama). Start-to-first-request is not
    /// available: agentbench does not see that server's arrivals.
    Url(String),
}

impl PeerBackend {
    /// Parses `instant`, `paced`, or an `http://` / `https://` URL.
    pub fn parse(s: &str) -> Result<Self, PeersError> {
        match s.trim() {
            "instant" => Ok(PeerBackend::Instant),
            "paced" => Ok(PeerBackend::Paced),
            u if u.starts_with("http://") || u.starts_with("https://") => {
                Ok(PeerBackend::Url(u.trim_end_matches('/').to_string()))
            }
            other => Err(PeersError::BadBackend(other.to_string())),
        }
    }

    /// The stub profile served, when embedded.
    pub fn stub_profile(&self) -> Option<&'static str> {
        match self {
            PeerBackend::Instant => Some("instant"),
            PeerBackend::Paced => Some("paced"),
            PeerBackend::Url(_) => None,
        }
    }
}

impl fmt::Display for PeerBackend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PeerBackend::Instant => f.write_str("instant stub"),
            PeerBackend::Paced => f.write_str("paced stub"),
            PeerBackend::Url(u) => write!(f, "{u}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn agent_specs_parse_and_bad_ones_are_explained() {
        let a = AgentSpec::parse("rust=builtin").unwrap();
        assert_eq!(a.name, "rust");
        assert_eq!(a.command, AgentCommand::Builtin);
        let p = AgentSpec::parse("py=python3 'peers/my agent.py' -x \"a b\"").unwrap();
        assert_eq!(
            p.command,
            AgentCommand::External(vec![
                "python3".into(),
                "peers/my agent.py".into(),
                "-x".into(),
                "a b".into()
            ])
        );
        for bad in [
            "rust", "=builtin", "a b=x", "x=", "x='open", "../x=y", ".x=y",
        ] {
            let e = AgentSpec::parse(bad).unwrap_err().to_string();
            assert!(
                e.contains("--agent") && e.contains("NAME=CMD"),
                "{bad}: {e}"
            );
        }
    }

    #[test]
    fn words_split_like_a_shell_without_expansion() {
        assert_eq!(split_words("  a  b\tc ").unwrap(), ["a", "b", "c"]);
        assert_eq!(
            split_words(r#"a\ b "c\"d" '$HOME' """#).unwrap(),
            ["a b", "c\"d", "$HOME", ""]
        );
        assert!(split_words("a\\").is_err());
    }

    #[test]
    fn backends_parse() {
        assert_eq!(PeerBackend::parse("instant").unwrap(), PeerBackend::Instant);
        assert_eq!(
            PeerBackend::parse("http://127.0.0.1:11434/").unwrap(),
            PeerBackend::Url("http://127.0.0.1:11434".into())
        );
        assert!(PeerBackend::parse("ollama").is_err());
    }
}
