//! The terminal: taking it over (raw mode, alternate screen, hidden cursor),
//! drawing a [`View`] on it through ratatui, and giving it back as it was:
//! when the screen is dropped, so on quitting, on an error and while a panic
//! unwinds, and from a panic hook for a panic that does not unwind (a panic
//! in another thread, or `panic = "abort"`). The hook is removed again, and
//! the one before it put back, when the screen is dropped.

use std::io::Stdout;
use std::panic::PanicHookInfo;
use std::sync::Arc;

use crossterm::{cursor, terminal};
use ratatui::Terminal;
use ratatui::backend::CrosstermBackend;

use super::view::View;
use crate::error::CliError;

/// The terminal taken over; given back when dropped.
#[derive(Debug)]
pub(super) struct Screen {
    /// Draws only what changed since the last frame. Declared first: it is
    /// dropped before `_taken` gives the terminal back.
    terminal: Terminal<CrosstermBackend<Stdout>>,
    /// Gives the terminal back when dropped.
    _taken: Taken,
}

impl Screen {
    /// Takes over the terminal. Fails with a message that names `--json`
    /// when stdout cannot be put in raw mode or on the alternate screen.
    pub(super) fn enter() -> Result<Screen, CliError> {
        let taken = Taken::enter().map_err(|e| {
            CliError::Usage(format!(
                "could not take over the terminal ({e}): run `clamator top --json` for JSON \
                 lines instead"
            ))
        })?;
        let terminal =
            Terminal::new(CrosstermBackend::new(std::io::stdout())).map_err(screen_error)?;
        Ok(Screen {
            terminal,
            _taken: taken,
        })
    }

    /// Draws `view` over the whole terminal (its size asked again each time,
    /// so a resized window is filled).
    pub(super) fn draw(&mut self, view: &View) -> Result<(), CliError> {
        self.terminal
            .draw(|frame| frame.render_widget(view, frame.area()))
            .map_err(screen_error)?;
        Ok(())
    }
}

/// The terminal failed under us (closed, gone).
pub(super) fn screen_error(e: std::io::Error) -> CliError {
    CliError::Internal(format!(
        "writing to or reading from the terminal failed: {e}"
    ))
}

/// Raw mode, the alternate screen and the hidden cursor, with a panic hook
/// that undoes them; all undone when dropped.
#[derive(Debug)]
struct Taken {
    /// Restores the terminal on a panic while the screen is up.
    _hook: PanicHook,
}

impl Taken {
    fn enter() -> std::io::Result<Taken> {
        terminal::enable_raw_mode()?;
        // From here on, dropping `taken` (also on the error below) restores.
        let taken = Taken {
            _hook: PanicHook::install(restore),
        };
        crossterm::execute!(
            std::io::stdout(),
            terminal::EnterAlternateScreen,
            cursor::Hide
        )?;
        Ok(taken)
    }
}

impl Drop for Taken {
    fn drop(&mut self) {
        restore();
    }
}

/// Leaves the alternate screen, shows the cursor, and ends raw mode; doing it
/// twice (the hook, then the drop) does no harm.
fn restore() {
    let _ = crossterm::execute!(
        std::io::stdout(),
        cursor::Show,
        terminal::LeaveAlternateScreen
    );
    let _ = terminal::disable_raw_mode();
}

/// A panic hook as the standard library keeps it.
type Hook = Box<dyn Fn(&PanicHookInfo<'_>) + Sync + Send + 'static>;

/// A panic hook that runs `action` and then the hook that was installed
/// before it (which prints the message, so it is printed on a restored
/// terminal). Dropping it removes it and puts the previous hook back.
struct PanicHook {
    /// The hook before ours. Ours holds the only other reference, so once
    /// ours is taken out and dropped this one can be put back as it was.
    previous: Option<Arc<Hook>>,
    /// Where our hook lives: how it is told apart from a hook installed over it.
    ours: usize,
}

impl std::fmt::Debug for PanicHook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PanicHook").finish_non_exhaustive()
    }
}

/// The address of a hook's closure (never zero-sized here: ours holds an `Arc`).
fn address(hook: &Hook) -> usize {
    std::ptr::from_ref(&**hook).cast::<()>() as usize
}

impl PanicHook {
    fn install(action: fn()) -> PanicHook {
        let previous = Arc::new(std::panic::take_hook());
        let chained = previous.clone();
        let ours: Hook = Box::new(move |info| {
            action();
            chained(info);
        });
        let at = address(&ours);
        std::panic::set_hook(ours);
        PanicHook {
            previous: Some(previous),
            ours: at,
        }
    }
}

impl Drop for PanicHook {
    fn drop(&mut self) {
        // While panicking the hook cannot be changed (the standard library
        // would panic again), and the process is on its way out anyway.
        if std::thread::panicking() {
            return;
        }
        let current = std::panic::take_hook();
        if address(&current) != self.ours {
            // Someone installed a hook over ours (and may chain to it): it
            // stays, and so does ours under it.
            std::panic::set_hook(current);
            return;
        }
        // Dropping ours releases its reference to the previous hook.
        drop(current);
        // `try_unwrap` cannot fail (ours held the only other reference);
        // if it did, the standard hook would be what is left, which is fine.
        if let Some(Ok(previous)) = self.previous.take().map(Arc::try_unwrap) {
            std::panic::set_hook(previous);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    static ACTIONS: AtomicUsize = AtomicUsize::new(0);
    static BEFORE: AtomicUsize = AtomicUsize::new(0);

    fn count_action() {
        ACTIONS.fetch_add(1, Ordering::SeqCst);
    }

    #[test]
    fn the_panic_hook_runs_then_is_removed_and_the_previous_one_is_back() {
        let original = std::panic::take_hook();
        std::panic::set_hook(Box::new(|_| {
            BEFORE.fetch_add(1, Ordering::SeqCst);
        }));
        let hook = PanicHook::install(count_action);
        assert!(std::panic::catch_unwind(|| panic!("while installed")).is_err());
        let during = (
            ACTIONS.load(Ordering::SeqCst),
            BEFORE.load(Ordering::SeqCst),
        );
        drop(hook);
        assert!(std::panic::catch_unwind(|| panic!("after removal")).is_err());
        let after = (
            ACTIONS.load(Ordering::SeqCst),
            BEFORE.load(Ordering::SeqCst),
        );
        std::panic::set_hook(original);
        assert_eq!(
            during,
            (1, 1),
            "ours ran, then chained to the previous hook"
        );
        assert_eq!(after, (1, 2), "ours is gone, the previous hook is back");
    }
}
