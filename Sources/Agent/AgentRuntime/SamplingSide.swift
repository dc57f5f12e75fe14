import HAL
import Synchronization

/// Work that uses the board's drivers outside sampling (a doctor run: heater, self-tests,
/// readings), done by the sampling thread between two samples, so no driver is ever used from
/// two threads. When nothing samples, the work runs on the caller's thread instead, and sampling
/// cannot start until it is done.
///
/// ## Contract
/// - At most one piece of work is waiting or running; another is refused at once (`nil`), not
///   queued.
/// - The sampling thread calls ``samplingStarted()``, ``betweenSamples()`` whenever no sample is
///   being taken, and ``samplingStopped()`` (which runs work still waiting, so no caller is left
///   waiting).
final class SamplingSide: Sendable {
    private struct State {
        var busy = false
        var sampling = false
        var waiting: (@Sendable () -> Void)?
    }

    private final class Outcome<T: Sendable>: Sendable {
        let value = Mutex<T?>(nil)
        let done = WakeUp()
    }

    private let state = Mutex(State())
    /// Held while work runs off the sampling thread and while sampling starts or stops.
    private let drivers = Mutex(())
    /// The sampler's wake: raised so a sampler waiting out a long period gets to the work now.
    let wake: WakeUp

    init(wake: WakeUp) {
        self.wake = wake
    }

    /// Runs `work` between two samples (or here when nothing samples) and returns its result;
    /// nil when other work is waiting or running.
    func run<T: Sendable>(_ work: @escaping @Sendable () -> T) -> T? {
        let admitted = state.withLock { state -> Bool in
            guard !state.busy else { return false }
            state.busy = true
            return true
        }
        guard admitted else { return nil }
        defer { state.withLock { $0.busy = false } }
        let outcome = Outcome<T>()
        let handedOver = drivers.withLock { _ -> Bool in
            let sampling = state.withLock { state -> Bool in
                if state.sampling {
                    state.waiting = {
                        let result = work()
                        outcome.value.withLock { $0 = result }
                        outcome.done.raise()
                    }
                }
                return state.sampling
            }
            if !sampling { outcome.value.withLock { $0 = work() } }
            return sampling
        }
        if handedOver {
            wake.raise()
            // A blocking wait (the long time-out only bounds each wait call, it is no poll).
            while !outcome.done.wait(timeout: .seconds(3600)) {}
        }
        return outcome.value.withLock { $0 }
    }

    func samplingStarted() {
        drivers.withLock { _ in state.withLock { $0.sampling = true } }
    }

    /// Runs waiting work, on the sampling thread.
    func betweenSamples() {
        let work = state.withLock { state in
            defer { state.waiting = nil }
            return state.waiting
        }
        work?()
    }

    func samplingStopped() {
        drivers.withLock { _ in
            let work = state.withLock { state in
                defer { state.waiting = nil }
                state.sampling = false
                return state.waiting
            }
            work?()
        }
    }
}
