#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import Synchronization

extension POSIX {
    /// Runs `body` on a new detached thread. pthreads directly: `Foundation.Thread` would pull all
    /// of Foundation (and its ICU data) into the device binary for this one call.
    /// Returns 0, or the error number when the thread could not be created (EAGAIN: out of threads).
    public static func startThread(_ body: @escaping @Sendable () -> Void) -> Int32 {
        final class Box {
            let body: @Sendable () -> Void
            init(_ body: @escaping @Sendable () -> Void) {
                self.body = body
            }
        }
        let box = Unmanaged.passRetained(Box(body)).toOpaque()
        var thread = pthread_t()
        let started = pthread_create(&thread, nil, { context in
            guard let context else { return nil }
            let box = Unmanaged<Box>.fromOpaque(context).takeRetainedValue()
            box.body()
            return nil
        }, box)
        guard started == 0 else {
            Unmanaged<Box>.fromOpaque(box).release()
            return started
        }
        pthread_detach(thread)
        return 0
    }
}

extension POSIX {
    /// Calls `handler` (on a thread of its own, outside any signal context) each time the process
    /// gets SIGINT or SIGTERM. The two signals are blocked in the calling thread, and so in every
    /// thread it starts afterwards, and taken with `sigwait` by one thread that sleeps until one
    /// comes: no Dispatch signal source (libdispatch's worker pool ticks once a second once it
    /// exists). Call it before starting other threads; a thread started earlier keeps the default
    /// action. Returns 0, or the error number when the thread could not be created.
    public static func onTerminationSignals(_ handler: @escaping @Sendable (Int32) -> Void) -> Int32 {
        var set = sigset_t()
        sigemptyset(&set)
        sigaddset(&set, SIGINT)
        sigaddset(&set, SIGTERM)
        let masked = pthread_sigmask(SIG_BLOCK, &set, nil)
        guard masked == 0 else { return masked }
        let waited = set
        return startThread {
            var set = waited
            while true {
                var number: Int32 = 0
                guard sigwait(&set, &number) == 0 else { continue }
                handler(number)
            }
        }
    }
}

/// Runs submitted jobs one at a time, in order, on a thread of its own: started at the first job,
/// gone after `idleExit` without one. What Dispatch's serial queues did here, without
/// libdispatch's worker pool (which, once started, wakes the process every second for good).
/// The caller bounds what it submits.
public final class SerialThread: Sendable {
    struct State {
        var jobs: [@Sendable () -> Void] = []
        var running = false
    }
    let state = Mutex(State())
    let wake = WakeUp()
    let idleExit: Duration

    public init(idleExit: Duration = .seconds(10)) {
        self.idleExit = idleExit
    }

    /// Queues `job`; 0, or the error number when no thread could be started (the job is dropped).
    @discardableResult
    public func submit(_ job: @escaping @Sendable () -> Void) -> Int32 {
        let start = state.withLock { s -> Bool in
            s.jobs.append(job)
            defer { s.running = true }
            return !s.running
        }
        guard start else {
            wake.raise()
            return 0
        }
        let started = POSIX.startThread { [self] in drain() }
        if started != 0 { state.withLock { $0 = State() } }
        return started
    }

    /// Returns when every job submitted before it has run (Dispatch's `queue.sync {}`).
    public func waitForQueuedJobs() {
        let done = WakeUp()
        guard submit({ done.raise() }) == 0 else { return }
        while !done.wait(timeout: .seconds(3600)) {}
    }

    private func drain() {
        while true {
            let next = state.withLock { s -> (@Sendable () -> Void)? in s.jobs.isEmpty ? nil : s.jobs.removeFirst() }
            if let next {
                next()
                continue
            }
            if wake.wait(timeout: idleExit) { continue }
            // Idle: end the thread unless a job came in just now (then it stays to run it).
            let exit = state.withLock { s -> Bool in
                guard s.jobs.isEmpty else { return false }
                s.running = false
                return true
            }
            if exit { return }
        }
    }
}
