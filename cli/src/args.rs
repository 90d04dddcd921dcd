//! The command line, declared with clap (derive): one command word, its
//! `--name value` options and positionals, and the options every command
//! takes (`--data`, `--json`, `--offline`, `--timeout`, before or after the
//! command). clap writes `rapport --help` and each command's `--help` from
//! the doc comments below, and reports bad input as a typed error that
//! [`parse`] turns into [`CliError::Usage`] (exit 2).

use crate::error::CliError;
use clap::{Parser, Subcommand, ValueEnum};
use std::path::PathBuf;
use std::time::Duration;

/// The synopsis of every command, as docs/cli.md gives it.
const SYNOPSIS: &str = "\
rapport demo [--chats N] [--messages N] [--rate EVENTS_PER_S] [--sendpulse]
       rapport fake-sendpulse [--chats N] [--messages N]
       rapport console
       rapport login --server URL --email EMAIL [--password P]   (or RAPPORT_PASSWORD)
       rapport login --sendpulse URL --client-id ID [--client-secret S] [--operator-id N]
                     (or RAPPORT_SENDPULSE_SECRET)
       rapport logout
       rapport sync
       rapport chats [--app APP] [--type personal|group] [--assignee mine|unassigned|all]
                     [--status open|unread|closed|all] [--search TEXT] [--limit N]
       rapport search TEXT [filters as for chats]
       rapport show CHAT [--limit N]
       rapport send CHAT TEXT
       rapport send CHAT [CAPTION] --file PATH
       rapport send CHAT --template NAME
       rapport send CHAT TEXT --tag human_agent
       rapport note CHAT TEXT
       rapport assign CHAT MEMBER|me|none
       rapport pause CHAT [start|extend|continue]
       rapport open CHAT | rapport close CHAT
       rapport stats
       rapport help [COMMAND]   (or COMMAND --help)
       every command also takes --data DIR, --json, --offline, --timeout SECS";

const EXIT_CODES: &str = "\
Exit codes: 0 done, 1 failed (network, server, store), 2 bad usage,
3 refused by a rule (the reason is printed), 4 not found or not logged in.
See docs/cli.md for the console's keys.";

/// rapport: the Rapport agent console and scripting commands
#[derive(Parser, Debug, Clone, PartialEq)]
#[command(
    name = "rapport",
    arg_required_else_help = true,
    override_usage = SYNOPSIS,
    after_help = EXIT_CODES,
    disable_version_flag = true
)]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,
    #[command(subcommand)]
    pub command: Command,
}

/// The options every command takes.
#[derive(clap::Args, Debug, Clone, PartialEq)]
pub struct Global {
    /// Where the store and session live (default: $RAPPORT_DATA, else the
    /// user's data directory + /rapport)
    #[arg(long, global = true, value_name = "DIR")]
    pub data: Option<PathBuf>,
    /// Print JSON (errors too, on stderr)
    #[arg(long, global = true)]
    pub json: bool,
    /// Read the local store without syncing first; actions are only queued
    #[arg(long, global = true)]
    pub offline: bool,
    /// How long to wait for the server, in seconds
    #[arg(long, global = true, value_name = "SECS", default_value = "60",
          value_parser = seconds)]
    pub timeout: Duration,
}

impl Default for Global {
    fn default() -> Self {
        Global {
            data: None,
            json: false,
            offline: false,
            timeout: Duration::from_secs(60),
        }
    }
}

#[derive(Subcommand, Debug, Clone, PartialEq)]
pub enum Command {
    /// An embedded server with a lively demo workspace, and the console on it
    Demo {
        /// Chats in the demo workspace
        #[arg(long, value_name = "N", default_value_t = 2_000)]
        chats: usize,
        /// Messages in the demo workspace
        #[arg(long, value_name = "N", default_value_t = 40_000)]
        messages: usize,
        /// Simulated messaging-app events a second (0 for none)
        #[arg(long, value_name = "EVENTS_PER_S", default_value_t = 3.0)]
        rate: f64,
        /// The workspace on a fake SendPulse account: the server in gateway
        /// mode reconciles it, takes its webhooks and sends replies to it
        #[arg(long)]
        sendpulse: bool,
    },
    /// A fake SendPulse account on a loopback port, serving its API until
    /// killed (for the apps' tests and `login --sendpulse`): prints
    /// "fake-sendpulse listening on URL" and the credentials to log in with
    FakeSendpulse {
        /// Subscribers (chats), spread over a bot per messaging app
        #[arg(long, value_name = "N", default_value_t = 12)]
        chats: usize,
        /// Messages in their histories
        #[arg(long, value_name = "N", default_value_t = 60)]
        messages: usize,
    },
    /// The interactive console on the logged-in server
    Console,
    /// Log in to a Rapport server (the password from --password or
    /// RAPPORT_PASSWORD), or to a SendPulse account directly with --sendpulse
    /// (the client secret from --client-secret or RAPPORT_SENDPULSE_SECRET)
    Login {
        #[arg(
            long,
            value_name = "URL",
            required_unless_present = "sendpulse",
            conflicts_with = "sendpulse",
            requires = "email"
        )]
        server: Option<String>,
        #[arg(long, value_name = "EMAIL", conflicts_with = "sendpulse")]
        email: Option<String>,
        /// The password (else $RAPPORT_PASSWORD)
        #[arg(long, value_name = "P", conflicts_with = "sendpulse")]
        password: Option<String>,
        /// SendPulse's API root (https://api.sendpulse.com): no Rapport
        /// server, the console polls SendPulse itself
        #[arg(long, value_name = "URL", requires = "client_id")]
        sendpulse: Option<String>,
        /// The SendPulse account's API client id
        #[arg(long, value_name = "ID", requires = "sendpulse")]
        client_id: Option<String>,
        /// Its client secret (else $RAPPORT_SENDPULSE_SECRET)
        #[arg(long, value_name = "SECRET", requires = "sendpulse")]
        client_secret: Option<String>,
        /// Your SendPulse operator id (for `assign CHAT me`)
        #[arg(long, value_name = "N", requires = "sendpulse")]
        operator_id: Option<i64>,
    },
    /// Log out and delete the local data
    Logout,
    /// Bring the local store up to date (and send what was queued)
    Sync,
    /// The chat list: status counts and the first chats matching the filters
    Chats {
        #[command(flatten)]
        filter: Filter,
        /// How many chats
        #[arg(long, value_name = "N", default_value_t = 50)]
        limit: u32,
    },
    /// Chats by name, with the filters of `chats`
    Search {
        /// Each word starts a word of the name
        #[arg(allow_hyphen_values = true)]
        text: String,
        #[command(flatten)]
        filter: Filter,
        /// How many chats
        #[arg(long, value_name = "N", default_value_t = 50)]
        limit: u32,
    },
    /// A chat: its row, window, pause, card and timeline
    Show {
        /// The chat's id (`rapport chats` lists them)
        chat: String,
        /// How many timeline items (B1: older ones come from the server when
        /// the store holds fewer, unless --offline)
        #[arg(long, value_name = "N", default_value_t = 20)]
        limit: u32,
    },
    /// A reply (E1-E7), a file (E2), a WhatsApp template or a Messenger tag (E5)
    #[command(after_help = "\
Forms:
  rapport send CHAT TEXT
  rapport send CHAT [CAPTION] --file PATH     (upload progress on a terminal)
  rapport send CHAT --template NAME           (WhatsApp outside the window)
  rapport send CHAT TEXT --tag human_agent    (Messenger message tags)")]
    Send {
        /// The chat's id (`rapport chats` lists them)
        chat: String,
        /// The text (with --file, the caption)
        #[arg(
            value_name = "TEXT",
            allow_hyphen_values = true,
            required_unless_present_any = ["file", "template"]
        )]
        text: Option<String>,
        /// Send this file (E2)
        #[arg(long, value_name = "PATH", conflicts_with_all = ["template", "tag"])]
        file: Option<PathBuf>,
        /// Send this WhatsApp template (E5)
        #[arg(long, value_name = "NAME", conflicts_with = "tag")]
        template: Option<String>,
        /// A Messenger message tag (E5): human_agent, confirmed_event_update,
        /// post_purchase_update, account_update
        #[arg(long, value_name = "TAG")]
        tag: Option<String>,
    },
    /// An internal note (C1)
    Note {
        /// The chat's id (`rapport chats` lists them)
        chat: String,
        #[arg(allow_hyphen_values = true)]
        text: String,
    },
    /// Assign the chat to a member (by id or name), to me, or to none
    Assign {
        /// The chat's id (`rapport chats` lists them)
        chat: String,
        #[arg(value_name = "MEMBER|me|none")]
        member: String,
    },
    /// Pause the bot 60 minutes (start), 60 more (extend), or let autoflows continue
    Pause {
        /// The chat's id (`rapport chats` lists them)
        chat: String,
        #[arg(value_enum, default_value_t = Pause::Start)]
        action: Pause,
    },
    /// Open the chat
    Open {
        /// The chat's id
        chat: String,
    },
    /// Close the chat
    Close {
        /// The chat's id
        chat: String,
    },
    /// Messages sent and received and subscribers, all bots and per bot (I1)
    Stats,
}

/// A2-A5: the list filters, checked by `commands::filter`.
#[derive(clap::Args, Debug, Clone, Default, PartialEq)]
pub struct Filter {
    /// telegram, whatsapp, instagram, messenger, viber, livechat
    #[arg(long, value_name = "APP")]
    pub app: Option<String>,
    /// personal or group
    #[arg(long = "type", value_name = "personal|group")]
    pub kind: Option<String>,
    #[arg(long, value_name = "mine|unassigned|all")]
    pub assignee: Option<String>,
    #[arg(long, value_name = "open|unread|closed|all")]
    pub status: Option<String>,
    /// Names must match this (each typed word starts a word of the name)
    #[arg(long, value_name = "TEXT")]
    pub search: Option<String>,
}

#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pause {
    Start,
    Extend,
    Continue,
}

/// What the command line asks for.
#[derive(Debug, Clone, PartialEq)]
pub enum Parsed {
    Run(Cli),
    /// `--help`, `-h`, `help [COMMAND]`: the text to print (exit 0).
    Help(String),
}

/// Parses the arguments after the program name.
pub fn parse(args: impl IntoIterator<Item = String>) -> Result<Parsed, CliError> {
    let argv = std::iter::once("rapport".to_owned()).chain(args);
    match Cli::try_parse_from(argv) {
        Ok(cli) => Ok(Parsed::Run(cli)),
        Err(e) => match e.kind() {
            clap::error::ErrorKind::DisplayHelp | clap::error::ErrorKind::DisplayVersion => {
                Ok(Parsed::Help(e.render().to_string()))
            }
            _ => {
                let text = e.render().to_string();
                let text = text.strip_prefix("error: ").unwrap_or(&text);
                Err(CliError::Usage(text.trim_end().to_owned()))
            }
        },
    }
}

/// Whether the arguments ask for JSON, for reporting an error when they do
/// not parse.
pub fn wants_json(args: &[String]) -> bool {
    args.iter()
        .take_while(|a| *a != "--")
        .any(|a| a == "--json")
}

/// `--timeout SECS`: a number of seconds, at least 0.1.
fn seconds(v: &str) -> Result<Duration, String> {
    let secs: f64 = v
        .parse()
        .map_err(|_| "needs a number of seconds".to_owned())?;
    Duration::try_from_secs_f64(secs.max(0.1)).map_err(|_| "needs a number of seconds".into())
}

impl Global {
    pub fn data_dir(&self) -> PathBuf {
        if let Some(d) = &self.data {
            return d.clone();
        }
        if let Some(d) = std::env::var_os("RAPPORT_DATA") {
            return d.into();
        }
        default_data_dir().join("rapport")
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

    fn words(s: &str) -> Vec<String> {
        s.split_whitespace().map(String::from).collect()
    }

    fn run(s: &str) -> Cli {
        match parse(words(s)) {
            Ok(Parsed::Run(cli)) => cli,
            other => panic!("{s:?}: {other:?}"),
        }
    }

    /// The message of a usage error, which must exist.
    fn usage(s: &str) -> String {
        match parse(words(s)) {
            Err(CliError::Usage(m)) => m,
            other => panic!("{s:?} should be a usage error: {other:?}"),
        }
    }

    #[test]
    fn common_options_go_before_or_after_the_command() {
        let a = run("--json send c1 hello --data=/tmp/x --timeout 5");
        assert!(a.global.json);
        assert_eq!(a.global.data_dir(), PathBuf::from("/tmp/x"));
        assert_eq!(a.global.timeout, Duration::from_secs(5));
        assert_eq!(
            a.command,
            Command::Send {
                chat: "c1".into(),
                text: Some("hello".into()),
                file: None,
                template: None,
                tag: None
            }
        );
        let a = run("chats --offline --status=unread --limit 3 --app telegram");
        assert!(a.global.offline && !a.global.json);
        assert_eq!(a.global.timeout, Duration::from_secs(60));
        let Command::Chats { filter, limit, .. } = a.command else {
            panic!()
        };
        assert_eq!((filter.status.as_deref(), limit), (Some("unread"), 3));
        assert_eq!(filter.app.as_deref(), Some("telegram"));
    }

    #[test]
    fn texts_may_start_with_a_dash() {
        let a = run("note c1 -- --not-an-option");
        assert!(matches!(a.command, Command::Note { text, .. } if text == "--not-an-option"));
        let a = run("send c1 -5 --json");
        assert!(a.global.json);
        assert!(matches!(a.command, Command::Send { text: Some(t), .. } if t == "-5"));
    }

    #[test]
    fn send_forms() {
        let a = run("send c1 --template order_update");
        assert!(matches!(
            a.command,
            Command::Send {
                text: None,
                template: Some(_),
                ..
            }
        ));
        let a = run("send c1 caption --file /tmp/f.pdf");
        assert!(matches!(
            a.command,
            Command::Send {
                text: Some(_),
                file: Some(_),
                ..
            }
        ));
        let a = run("pause c1");
        assert_eq!(
            a.command,
            Command::Pause {
                chat: "c1".into(),
                action: Pause::Start
            }
        );
        assert!(matches!(
            run("pause c1 continue").command,
            Command::Pause {
                action: Pause::Continue,
                ..
            }
        ));
    }

    #[test]
    fn help_is_not_an_error() {
        for s in [
            "--help",
            "-h",
            "help",
            "help send",
            "send --help",
            "chats -h",
        ] {
            let Ok(Parsed::Help(text)) = parse(words(s)) else {
                panic!("{s:?}");
            };
            assert!(text.contains("Usage: rapport"), "{s:?}: {text}");
            if s.starts_with("send") || s == "help send" {
                assert!(text.contains("--template <NAME>"), "{s:?}: {text}");
            }
        }
        let Ok(Parsed::Help(top)) = parse(words("--help")) else {
            panic!()
        };
        for cmd in [
            "demo",
            "console",
            "login",
            "logout",
            "sync",
            "chats",
            "search",
            "show",
            "send",
            "note",
            "assign",
            "pause",
            "open",
            "close",
            "stats",
            "--json",
            "--data",
            "--offline",
            "--timeout",
            "Exit codes",
        ] {
            assert!(top.contains(cmd), "{cmd} missing from --help");
        }
    }

    #[test]
    fn mistakes_are_usage_errors_that_say_what_is_wrong() {
        assert!(usage("chats --bogus").contains("--bogus"));
        assert!(usage("chats --app").contains("--app"));
        assert!(usage("chats --limit many").contains("many"));
        assert!(usage("chats --limit -1").contains("-1"));
        assert!(usage("show c1 --timeout soon").contains("seconds"));
        assert!(usage("show c1 --timeout inf").contains("seconds"));
        assert!(usage("frobnicate").contains("frobnicate"));
        assert!(usage("chat").contains("chats"), "suggests the near command");
        assert!(usage("send c1").contains("TEXT"));
        assert!(usage("send").contains("CHAT"));
        assert!(usage("note c1 a b").contains('b'));
        assert!(usage("show c1 extra").contains("extra"));
        assert!(usage("stats --limit 5").contains("--limit"));
        assert!(usage("login --server http://x").contains("--email"));
        assert!(usage("login --sendpulse http://x").contains("--client-id"));
        assert!(usage("login --client-id c").contains("--sendpulse"));
        assert!(
            usage("login --sendpulse http://x --client-id c --server http://y")
                .contains("--server")
        );
        assert!(usage("pause c1 forever").contains("forever"));
        assert!(usage("send c1 x --file a --template b").contains("--template"));
        assert!(usage("demo --rate fast").contains("fast"));
        // No command: the usage, as an error.
        assert!(usage("").contains("Usage: rapport"));
        assert!(usage("--json").contains("Usage: rapport"));
        assert!(!usage("chats --bogus").starts_with("error:"));
    }

    #[test]
    fn json_errors_are_spotted_before_parsing() {
        assert!(wants_json(&words("chats --bogus --json")));
        assert!(!wants_json(&words("note c1 -- --json")));
    }
}
