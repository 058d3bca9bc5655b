//! The demo window: the world drawn as in the classic program, one step per
//! frame on the window's thread, with the recorder's live statistics in the
//! title and in an overlay (H toggles it).
//!
//! Everything the window itself does (pumping events, drawing, the title) runs
//! without recording, like the headless mode's progress display: the window
//! thread's events in `alloc.tsv` are the world's, and a seed gives the same
//! sequence as a headless run of as many frames.

mod colors;
mod display;
mod labels;
mod live;
mod overlay;

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use anyhow::{Result, anyhow, bail};
use graphics::{clear, rectangle};
use heapsnow::recorder::{self, without_recording};
use heapsnow::run::Tap;
use heapsnow_cli::sim::{HEIGHT, WIDTH, World};
use piston_window::texture::TextureSettings;
use piston_window::wgpu::PresentMode;
use piston_window::{
    AdvancedWindow, Button, Event, EventLoop, Glyphs, Key, PistonWindow, PressEvent, RenderEvent,
    WindowSettings,
};

pub use display::check_display;

use crate::cli::Config;
use crate::headless::panic_message;
use crate::recording::{RunRecorder, RunResult, SimOutcome};
use crate::signals::Signals;
use colors::{BACKGROUND_SRGB, linear_rgba, particle_rgba};
use live::{LiveStats, SLOTS, TITLE_SLOTS};
use overlay::Overlay;

/// The classic program's frame rate (piston's default cap).
const FRAME_INTERVAL: Duration = Duration::from_nanos(1_000_000_000 / 60);
/// piston's own cap, set out of the way: in piston_window 0.148 its wait
/// returns at once (the winit backend wakes itself up before waiting), so the
/// demo paces its frames itself.
const PISTON_MAX_FPS: u64 = 1_000_000;
/// How often the title's figures are renewed.
const TITLE_EVERY: Duration = Duration::from_millis(500);
/// Side of a particle's square, in pixels.
const PARTICLE_SIZE: f64 = 4.0;

/// The open window and what it draws with.
pub struct Demo {
    window: PistonWindow,
    glyphs: Glyphs<'static>,
    overlay: Overlay,
    overlay_visible: bool,
    live: Arc<LiveStats>,
    /// `None` with `--uncapped`.
    pacer: Option<Pacer>,
    recording: bool,
    background: [f32; 4],
    /// Frames drawn since the title was last renewed, and when that was.
    title_frames: u64,
    title_since: Instant,
}

/// Opens the window: call [`check_display`] first. Opening happens before
/// the recording starts, so a window that cannot open leaves no files behind.
///
/// A machine without a usable GPU adapter (for Xvfb: without Mesa's software
/// Vulkan) makes piston_window panic while it sets up wgpu; that panic is
/// caught, kept off stderr and returned as an error.
pub fn open(config: &Config) -> Result<Demo> {
    let settings =
        WindowSettings::new("particles", [WIDTH as u32, HEIGHT as u32]).exit_on_esc(true);
    let mut window = build_quietly(&settings)?;
    // No update events: the world steps once per drawn frame.
    window.set_ups(0);
    window.set_max_fps(PISTON_MAX_FPS);
    if config.uncapped {
        // piston_window configures the surface with vsync (Fifo); this asks for
        // Immediate or Mailbox where the driver has them.
        window.surface_config.present_mode = PresentMode::AutoNoVsync;
        window
            .surface
            .configure(&window.device, &window.surface_config);
    }
    let glyphs = Glyphs::from_bytes(
        dejavu::sans::regular(),
        window.create_texture_context(),
        TextureSettings::new(),
    )
    .map_err(|()| anyhow!("the embedded DejaVu Sans font does not load"))?;
    Ok(Demo {
        window,
        glyphs,
        overlay: Overlay::new(),
        overlay_visible: true,
        live: LiveStats::new(),
        pacer: (!config.uncapped).then(|| Pacer::new(FRAME_INTERVAL)),
        recording: config.record,
        background: linear_rgba(BACKGROUND_SRGB),
        title_frames: 0,
        title_since: Instant::now(),
    })
}

impl Demo {
    /// The recorder tap that feeds the live statistics.
    pub fn tap(&self) -> Tap {
        self.live.tap()
    }
}

/// Runs the demo until Esc, the window is closed, a stop signal, `--frames`,
/// `--duration`, a failed `alloc.tsv` or a panic in the simulation, then
/// writes the files.
pub fn run(
    mut demo: Demo,
    config: &Config,
    recorder: RunRecorder,
    signals: &Signals,
) -> Result<RunResult> {
    let thread_number = recorder::thread_number();
    let started = Instant::now();
    demo.title_since = started;
    let mut world =
        World::new(config.strategy, config.particles, config.seed).with_physics(config.physics);
    let frame_limit = config.frames.unwrap_or(u64::MAX);
    let mut frames = 0;
    let mut panic = None;
    while frames < frame_limit {
        let out_of_time = config
            .duration
            .is_some_and(|limit| started.elapsed() >= limit);
        if signals.received().is_some() || out_of_time || recorder.failed() {
            break;
        }
        // None once Esc is pressed or the window is closed.
        let Some(event) = without_recording(|| demo.window.next()) else {
            break;
        };
        if event.render_args().is_some() {
            if let Some(pacer) = &mut demo.pacer {
                pacer.wait();
            }
            let step = || {
                world.step();
                frames += 1;
                if config.panic_after_frames == Some(frames) {
                    panic!("asked to panic after {frames} frames (--panic-after-frames)");
                }
            };
            if let Err(payload) = catch_unwind(AssertUnwindSafe(step)) {
                panic = Some(payload);
                break;
            }
        }
        // The event is dropped in there too: a text event holds a String.
        without_recording(|| demo.handle(event, &world));
    }
    let particles_final = world.len() as u64;
    // Dropped here, recorded, as a headless world is at the end of its thread.
    drop(world);
    let wall_s = started.elapsed().as_secs_f64();
    // Unrecorded from here on: the files are written from this thread, which
    // is also the simulation thread.
    without_recording(|| {
        drop(demo);
        let sim = SimOutcome {
            frames,
            particles_final,
            wall_s,
            sim_threads: vec![thread_number],
            signal: signals.received(),
            error: panic
                .map(|payload| format!("the simulation panicked: {}", panic_message(&*payload))),
        };
        recorder.finish(config, sim)
    })
}

impl Demo {
    fn handle(&mut self, event: Event, world: &World) {
        if let Some(Button::Keyboard(Key::H)) = event.press_args() {
            self.overlay_visible = !self.overlay_visible;
        }
        if event.render_args().is_some() {
            self.draw(&event, world);
            self.title_frames += 1;
            if self.title_since.elapsed() >= TITLE_EVERY {
                self.renew_title(world);
            }
        }
    }

    fn draw(&mut self, event: &Event, world: &World) {
        let counts = (self.overlay_visible && self.recording).then(|| self.live.last(SLOTS));
        let Demo {
            window,
            glyphs,
            overlay,
            overlay_visible,
            background,
            ..
        } = self;
        window.draw_2d(event, |c, g, _device| {
            clear(*background, g);
            world.for_each_particle(|p| {
                let square = [p.position[0], p.position[1], PARTICLE_SIZE, PARTICLE_SIZE];
                rectangle(particle_rgba(p.color), square, c.transform, g);
            });
            if *overlay_visible {
                overlay.draw(counts.as_ref(), glyphs, c, g);
            }
        });
    }

    fn renew_title(&mut self, world: &World) {
        let frames_per_s = self.title_frames as f64 / self.title_since.elapsed().as_secs_f64();
        let recorded = self.recording.then(|| {
            let counts = self.live.last(TITLE_SLOTS);
            labels::Recorded {
                heap_bytes: self.live.heap_bytes(),
                allocations_per_s: self.live.rate_per_s(&counts, TITLE_SLOTS),
                p50_ns: counts.value_at_quantile(0.50),
                p99_ns: counts.value_at_quantile(0.99),
            }
        });
        self.window
            .set_title(labels::title(world.len(), frames_per_s, recorded.as_ref()));
        self.title_frames = 0;
        self.title_since = Instant::now();
    }
}

/// Keeps frames at least one interval apart.
struct Pacer {
    interval: Duration,
    next_frame: Option<Instant>,
}

impl Pacer {
    fn new(interval: Duration) -> Pacer {
        Pacer {
            interval,
            next_frame: None,
        }
    }

    /// Sleeps until the next frame is due. A late frame does not make the
    /// following ones hurry.
    fn wait(&mut self) {
        let now = Instant::now();
        let due = self.next_frame.unwrap_or(now).max(now);
        std::thread::sleep(due - now);
        self.next_frame = Some(due + self.interval);
    }
}

/// Builds the window with the panic hook silenced, turning a panic inside
/// winit or wgpu into an error that says what to do.
fn build_quietly(settings: &WindowSettings) -> Result<PistonWindow> {
    /// The caught panic's message and the source file it came from.
    static CAUGHT: Mutex<Option<(String, String)>> = Mutex::new(None);
    let previous_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|info| {
        let message = panic_message(info.payload()).to_owned();
        let file = info
            .location()
            .map(|l| l.file().to_owned())
            .unwrap_or_default();
        *CAUGHT.lock().unwrap_or_else(PoisonError::into_inner) = Some((message, file));
    }));
    let built = catch_unwind(AssertUnwindSafe(|| settings.build::<PistonWindow>()));
    std::panic::set_hook(previous_hook);
    match built {
        Ok(Ok(window)) => Ok(window),
        Ok(Err(error)) => bail!("cannot open the window: {error}"),
        Err(_) => {
            let (message, file) = CAUGHT
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .take()
                .unwrap_or_default();
            // piston_window itself unwraps wgpu's surface, adapter and device.
            if file.contains("piston_window") {
                let reason = message
                    .strip_prefix("called `Result::unwrap()` on an `Err` value: ")
                    .unwrap_or(&message);
                bail!(
                    "no usable GPU adapter (wgpu: {reason}): run with --headless; a machine without a \
                     GPU needs Mesa's software Vulkan (Debian: mesa-vulkan-drivers)"
                )
            }
            bail!("cannot open the window ({message}): run with --headless, or under xvfb-run")
        }
    }
}
