import SystemCalls
import Testing

@Suite struct BlockingMutexTests {
    /// Two threads adding 100,000 each under the lock lose no update.
    @Test func updatesFromTwoThreadsAreNotLost() {
        let counter = BlockingMutex(0)
        let done = WakeUp()
        let finished = BlockingMutex(0)
        for _ in 0..<2 {
            _ = POSIX.startThread {
                for _ in 0..<100_000 { counter.withLock { $0 += 1 } }
                if finished.withLock({ $0 += 1; return $0 }) == 2 { done.raise() }
            }
        }
        while finished.withLock({ $0 }) < 2 { _ = done.wait(timeout: .seconds(10)) }
        #expect(counter.withLock { $0 } == 200_000)
    }

    /// `withLockIfAvailable` does not wait: nil while another thread holds the lock, the body's
    /// result once it is free; a thrown error passes through and releases the lock.
    @Test func withLockIfAvailableDoesNotWaitForAHolder() throws {
        let value = BlockingMutex("free")
        let held = WakeUp(), release = WakeUp(), released = WakeUp()
        _ = POSIX.startThread {
            value.withLock { _ in
                held.raise()
                _ = release.wait(timeout: .seconds(10))
            }
            released.raise()
        }
        #expect(held.wait(timeout: .seconds(10)))
        #expect(value.withLockIfAvailable { $0 } == nil)
        release.raise()
        #expect(released.wait(timeout: .seconds(10)))
        #expect(value.withLockIfAvailable { $0 } == "free")

        struct Refused: Error {}
        #expect(throws: Refused.self) { try value.withLock { _ throws(Refused) in throw Refused() } }
        #expect(value.withLockIfAvailable { $0 } == "free")
    }
}
