//! The interactive console: a terminal loop around the [`App`] state
//! machine. The terminal is restored on every exit, a panic included
//! (ratatui's `init` installs the hook).

pub mod app;
pub mod view;

pub use app::{App, CoreMsg, DealPrompt, Event, Mode};

use crate::error::CliError;
use ratatui::crossterm::event::{self, Event as TermEvent};
use std::time::{Duration, Instant};

/// Runs the console until the agent quits.
pub fn run(mut app: App) -> Result<(), CliError> {
    let mut terminal =
        ratatui::try_init().map_err(|e| CliError::Failed(format!("this needs a terminal: {e}")))?;
    let result = run_loop(&mut terminal, &mut app);
    ratatui::restore();
    result
}

fn run_loop(terminal: &mut ratatui::DefaultTerminal, app: &mut App) -> Result<(), CliError> {
    let io = |e: std::io::Error| CliError::Failed(format!("terminal: {e}"));
    if let Ok(size) = terminal.size() {
        app.update(Event::Resize(size.width, size.height));
    }
    app.update(Event::Tick);
    let mut last_tick = Instant::now();
    while !app.quit {
        terminal.draw(|f| view::draw(app, f)).map_err(io)?;
        // Keys first; core diffs are drained every turn (at most ~50 ms
        // late), ticks once a second for countdowns and the sync state.
        if event::poll(Duration::from_millis(50)).map_err(io)? {
            match event::read().map_err(io)? {
                TermEvent::Key(k) => app.update(Event::Key(k)),
                TermEvent::Resize(w, h) => app.update(Event::Resize(w, h)),
                _ => {}
            }
        }
        for e in app.pending() {
            app.update(e);
        }
        if last_tick.elapsed() >= Duration::from_millis(500) {
            last_tick = Instant::now();
            app.update(Event::Tick);
        }
    }
    Ok(())
}
