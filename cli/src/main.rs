//! `rapport`: see `rapport --help` and docs/cli.md.

fn main() {
    let code = rapport_cli::main_with(std::env::args().skip(1).collect());
    std::process::exit(code);
}
