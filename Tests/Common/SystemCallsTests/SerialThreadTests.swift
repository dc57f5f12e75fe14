import Synchronization
import SystemCalls
import Testing

@Suite struct SerialThreadTests {
    /// Jobs run one at a time, in the order given, and `waitForQueuedJobs` returns after them.
    @Test func jobsRunInOrderOneAtATime() {
        let worker = SerialThread()
        let log = Mutex<[Int]>([])
        let inside = Mutex(0)
        let overlapped = Mutex(false)
        for i in 0..<200 {
            #expect(worker.submit {
                if inside.withLock({ $0 += 1; return $0 }) > 1 { overlapped.withLock { $0 = true } }
                log.withLock { $0.append(i) }
                inside.withLock { $0 -= 1 }
            } == 0)
        }
        worker.waitForQueuedJobs()
        #expect(log.withLock { $0 } == Array(0..<200))
        #expect(overlapped.withLock { $0 } == false)
    }

    /// The thread ends when idle and a later job starts a new one: jobs after the idle exit still run.
    @Test func aJobAfterTheIdleExitStillRuns() {
        let worker = SerialThread(idleExit: .zero)
        let ran = Mutex(0)
        for _ in 0..<50 {
            worker.submit { ran.withLock { $0 += 1 } }
            worker.waitForQueuedJobs()
        }
        #expect(ran.withLock { $0 } == 50)
    }
}
