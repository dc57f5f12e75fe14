#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Ends a wait early. One thread waits (in ``wait(timeout:)``, or in a HAL clock's sleep); others
/// ``raise()`` it when the wait should end now (a setting changed, the agent is stopping), so a
/// long wait needs no polling steps to notice them.
///
/// A raise with nobody waiting is kept until the next wait or ``consume()``.
public final class WakeUp: @unchecked Sendable {
    // Heap-allocated so their addresses never move (pthread objects must not be copied).
    private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    private let condition = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)
    private var raised = false

    public init() {
        pthread_mutex_init(mutex, nil)
        #if canImport(Darwin)
        pthread_cond_init(condition, nil)
        #else
        // Deadlines on CLOCK_MONOTONIC, so a wall-clock step cannot stretch or cut a wait.
        var attributes = pthread_condattr_t()
        pthread_condattr_init(&attributes)
        pthread_condattr_setclock(&attributes, CLOCK_MONOTONIC)
        pthread_cond_init(condition, &attributes)
        pthread_condattr_destroy(&attributes)
        #endif
    }

    deinit {
        pthread_cond_destroy(condition)
        pthread_mutex_destroy(mutex)
        condition.deallocate()
        mutex.deallocate()
    }

    /// Ends the current wait, or the next one if nobody waits now.
    public func raise() {
        pthread_mutex_lock(mutex)
        raised = true
        pthread_cond_broadcast(condition)
        pthread_mutex_unlock(mutex)
    }

    /// Whether a raise is pending, clearing it.
    public func consume() -> Bool {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        let was = raised
        raised = false
        return was
    }

    /// Waits up to `timeout` of real time for a raise; true (and cleared) when raised.
    public func wait(timeout: Duration) -> Bool {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        if !raised, timeout > .zero {
            #if canImport(Darwin)
            let (seconds, attoseconds) = timeout.components
            var relative = timespec(tv_sec: Int(seconds), tv_nsec: Int(attoseconds / 1_000_000_000))
            while !raised, pthread_cond_timedwait_relative_np(condition, mutex, &relative) != ETIMEDOUT {}
            #else
            var now = timespec()
            clock_gettime(CLOCK_MONOTONIC, &now)
            let (seconds, attoseconds) = timeout.components
            var deadline = timespec(tv_sec: now.tv_sec + Int(seconds), tv_nsec: now.tv_nsec + Int(attoseconds / 1_000_000_000))
            if deadline.tv_nsec >= 1_000_000_000 {
                deadline.tv_sec += 1
                deadline.tv_nsec -= 1_000_000_000
            }
            while !raised, pthread_cond_timedwait(condition, mutex, &deadline) != ETIMEDOUT {}
            #endif
        }
        let was = raised
        raised = false
        return was
    }
}
