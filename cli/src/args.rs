//! The command line, parsed by hand: one command word, `--flag value`
//! options and positionals. A parser crate would cost more build time than
//! this grammar needs (no nesting, no short-flag bundling).

use crate::error::CliError;
use std::collections::BTreeMap;
use std::path::PathBuf;

pub const USAGE: &str = "\
rapport: the Rapport agent console and scripting commands

USAGE
  rapport demo [--chats N] [--messages N] [--rate EVENTS_PER_S]
      an embedded server with a lively demo workspace, and the console on it
  rapport console                 the interactive console on the logged-in server
  rapport login --server URL --email EMAIL [--password P]   (or RAPPORT_PASSWORD)
  rapport logout
  rapport sync                    bring the local store up to date
  rapport chats [--app APP] [--type personal|group] [--assignee mine|unassigned|all]
                [--status open|unread|closed|all] [--search TEXT] [--limit N]
  rapport search TEXT [filters as for chats]
  rapport show CHAT [--limit N]   a chat: its row, window, pause, card and timeline
  rapport send CHAT TEXT          a reply (E1-E7)
  rapport send CHAT [CAPTION] --file PATH     a file (E2), with upload progress
  rapport send CHAT --template NAME           a WhatsApp template (E5)
  rapport send CHAT TEXT --tag human_agent    a Messenger message tag (E5)
  rapport note CHAT TEXT          an internal note (C1)
  rapport assign CHAT MEMBER|me|none
  rapport pause CHAT [start|extend|continue]
  rapport open CHAT | rapport close CHAT
  rapport stats

OPTIONS (every command)
  --data DIR      where the store and session live (default: $RAPPORT_DATA,
                  else the user's data directory + /rapport)
  --json          print JSON (errors too, on stderr)
  --offline       read the local store without syncing first
  --timeout SECS  how long to wait for the server (default 60)

Exit codes: 0 done, 1 failed (network, server, store), 2 bad usage,
3 refused by a rule (the reason is printed), 4 not found or not logged in.
";

/// Options that take a value.
const VALUED: &[&str] = &[
    "--data",
    "--timeout",
    "--server",
    "--email",
    "--password",
    "--app",
    "--type",
    "--assignee",
    "--status",
    "--search",
    "--limit",
    "--chats",
    "--messages",
    "--rate",
    "--file",
    "--template",
    "--tag",
];
/// Options that are switches.
const SWITCHES: &[&str] = &["--json", "--offline", "--help", "-h"];

#[derive(Debug, Default, Clone, PartialEq)]
pub struct Args {
    pub command: String,
    pub positionals: Vec<String>,
    pub options: BTreeMap<String, String>,
    pub switches: Vec<String>,
}

impl Args {
    pub fn parse(args: impl IntoIterator<Item = String>) -> Result<Args, CliError> {
        let mut out = Args::default();
        let mut it = args.into_iter();
        while let Some(a) = it.next() {
            if a == "--" {
                // Everything after is positional (a text may start with --).
                for rest in it.by_ref() {
                    if out.command.is_empty() {
                        out.command = rest;
                    } else {
                        out.positionals.push(rest);
                    }
                }
                break;
            }
            let (name, inline) = match a.split_once('=') {
                Some((n, v)) if n.starts_with("--") => (n.to_owned(), Some(v.to_owned())),
                _ => (a.clone(), None),
            };
            if VALUED.contains(&name.as_str()) {
                let v = match inline {
                    Some(v) => v,
                    None => it
                        .next()
                        .ok_or_else(|| CliError::Usage(format!("{name} needs a value")))?,
                };
                out.options.insert(name, v);
            } else if SWITCHES.contains(&name.as_str()) {
                out.switches.push(name);
            } else if a.starts_with("--") {
                return Err(CliError::Usage(format!("unknown option {a}")));
            } else if out.command.is_empty() {
                out.command = a;
            } else {
                out.positionals.push(a);
            }
        }
        Ok(out)
    }

    pub fn switch(&self, name: &str) -> bool {
        self.switches.iter().any(|s| s == name)
    }

    pub fn json(&self) -> bool {
        self.switch("--json")
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.options.get(name).map(String::as_str)
    }

    pub fn required(&self, name: &str) -> Result<&str, CliError> {
        self.get(name)
            .ok_or_else(|| CliError::Usage(format!("{} needs {name}", self.command)))
    }

    pub fn number<T: std::str::FromStr>(&self, name: &str, default: T) -> Result<T, CliError> {
        match self.get(name) {
            None => Ok(default),
            Some(v) => v
                .parse()
                .map_err(|_| CliError::Usage(format!("{name} needs a number, not {v:?}"))),
        }
    }

    /// Exactly `n` positionals (after the command), named for the error.
    pub fn positionals(&self, names: &[&str]) -> Result<&[String], CliError> {
        if self.positionals.len() != names.len() {
            let want = names.join(" ");
            return Err(CliError::Usage(format!(
                "usage: rapport {} {want}",
                self.command
            )));
        }
        Ok(&self.positionals)
    }

    pub fn data_dir(&self) -> PathBuf {
        if let Some(d) = self.get("--data") {
            return d.into();
        }
        if let Some(d) = std::env::var_os("RAPPORT_DATA") {
            return d.into();
        }
        default_data_dir().join("rapport")
    }

    pub fn timeout(&self) -> Result<std::time::Duration, CliError> {
        Ok(std::time::Duration::from_secs_f64(
            self.number("--timeout", 60.0f64)?.max(0.1),
        ))
    }
}

/// The platform's per-user data directory (XDG on Linux).
fn default_data_dir() -> PathBuf {
    let env = |k: &str| {
        std::env::var_os(k)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    };
    if cfg!(windows) {
        return env("APPDATA").unwrap_or_else(|| PathBuf::from("."));
    }
    let home = env("HOME").unwrap_or_else(|| PathBuf::from("."));
    if cfg!(target_os = "macos") {
        return home.join("Library/Application Support");
    }
    env("XDG_DATA_HOME").unwrap_or_else(|| home.join(".local/share"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Result<Args, CliError> {
        Args::parse(s.split_whitespace().map(String::from))
    }

    #[test]
    fn options_positionals_and_switches_in_any_order() {
        let a = parse("--json send c1 hello --data=/tmp/x --timeout 5").unwrap();
        assert_eq!(a.command, "send");
        assert_eq!(a.positionals, ["c1", "hello"]);
        assert!(a.json());
        assert_eq!(a.data_dir(), PathBuf::from("/tmp/x"));
        assert_eq!(a.timeout().unwrap(), std::time::Duration::from_secs(5));
    }

    #[test]
    fn mistakes_are_usage_errors() {
        assert!(matches!(parse("chats --bogus"), Err(CliError::Usage(_))));
        assert!(matches!(parse("chats --app"), Err(CliError::Usage(_))));
        let a = parse("chats --limit many").unwrap();
        assert!(matches!(a.number("--limit", 1u32), Err(CliError::Usage(_))));
        let a = parse("send c1").unwrap();
        assert!(matches!(
            a.positionals(&["CHAT", "TEXT"]),
            Err(CliError::Usage(_))
        ));
    }
}
