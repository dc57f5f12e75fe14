#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// A value behind a plain pthread mutex, with `Synchronization.Mutex`'s `withLock` and
/// `withLockIfAvailable`. A waiter sleeps in the kernel at once, where `Mutex` on Linux first spins:
/// for a lock held across I/O (the outbox holds its lock through a group commit's fsync), the
/// spinning burned the core the holder and the sampler needed (8 % of the agent's CPU in
/// `_MutexHandle._lockSlow` at one sample per message on 2 cores).
public final class BlockingMutex<Value>: @unchecked Sendable {
    // Heap-allocated so its address never moves (a pthread mutex must not be copied).
    private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    private var value: Value

    public init(_ value: Value) {
        self.value = value
        pthread_mutex_init(mutex, nil)
    }

    deinit {
        pthread_mutex_destroy(mutex)
        mutex.deallocate()
    }

    public func withLock<Result, Failure: Error>(_ body: (inout Value) throws(Failure) -> Result) throws(Failure) -> Result {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        return try body(&value)
    }

    /// Runs `body` if the lock is free now; nil, without waiting, if another thread holds it.
    public func withLockIfAvailable<Result, Failure: Error>(
        _ body: (inout Value) throws(Failure) -> Result
    ) throws(Failure) -> Result? {
        guard pthread_mutex_trylock(mutex) == 0 else { return nil }
        defer { pthread_mutex_unlock(mutex) }
        return try body(&value)
    }
}
