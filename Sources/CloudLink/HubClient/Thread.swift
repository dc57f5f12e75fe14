import FoundationEssentials
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Lets callers on other threads (``HubClient/flush(timeout:)``, ``HubClient/stop()``) sleep
/// until the link reports a change, instead of looking every few milliseconds.
///
/// ``notify()`` must not be called with another lock held; ``wait(timeout:until:)`` evaluates
/// its condition without holding this one, so the two never nest.
final class ChangeSignal: @unchecked Sendable {
    private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    private let condition = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)
    /// Counts notifications; guarded by `mutex`.
    private var generation: UInt64 = 0

    init() {
        pthread_mutex_init(mutex, nil)
        var attributes = pthread_condattr_t()
        pthread_condattr_init(&attributes)
        #if os(Linux)
        pthread_condattr_setclock(&attributes, CLOCK_MONOTONIC)  // timed waits ignore wall-clock steps
        #endif
        pthread_cond_init(condition, &attributes)
        pthread_condattr_destroy(&attributes)
    }

    deinit {
        pthread_cond_destroy(condition)
        pthread_mutex_destroy(mutex)
        condition.deallocate()
        mutex.deallocate()
    }

    /// Wakes every waiter to look at its condition again.
    func notify() {
        pthread_mutex_lock(mutex)
        generation &+= 1
        pthread_cond_broadcast(condition)
        pthread_mutex_unlock(mutex)
    }

    /// Returns true as soon as `done()` is, false when `timeout` (real time) passes first.
    func wait(timeout: Duration, until done: () -> Bool) -> Bool {
        let end = Self.monotonicNow() + timeout
        while true {
            pthread_mutex_lock(mutex)
            let seen = generation
            pthread_mutex_unlock(mutex)
            if done() { return true }
            pthread_mutex_lock(mutex)
            var timedOut = false
            while generation == seen, !timedOut {
                var deadline = Self.makeTimespec(end)
                #if os(Linux)
                timedOut = pthread_cond_timedwait(condition, mutex, &deadline) == ETIMEDOUT
                #else
                let left = end - Self.monotonicNow()
                var relative = Self.makeTimespec(max(.zero, left))
                timedOut = left <= .zero || pthread_cond_timedwait_relative_np(condition, mutex, &relative) == ETIMEDOUT
                _ = deadline
                #endif
            }
            pthread_mutex_unlock(mutex)
            if timedOut { return done() }
        }
    }

    private static func monotonicNow() -> Duration {
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        return .seconds(now.tv_sec) + .nanoseconds(now.tv_nsec)
    }

    private static func makeTimespec(_ duration: Duration) -> timespec {
        let (seconds, attoseconds) = duration.components
        return .init(tv_sec: Int(seconds), tv_nsec: Int(attoseconds / 1_000_000_000))
    }
}
