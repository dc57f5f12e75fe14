@testable import AgentRuntime
import Foundation
import HAL
import Logging
import Synchronization
import Testing

/// Doctor runs use the sampler's drivers: they run on the sampling thread between two samples,
/// one at a time.
struct SamplingSideTests {
    @Test func workWaitsForTheSamplingThreadAndASecondRunIsRefused() {
        let side = SamplingSide(wake: WakeUp())
        side.samplingStarted()
        let betweenSamples = Mutex(false)
        let sawBetween = Mutex<Bool?>(nil)
        let finished = DispatchSemaphore(value: 0)
        DispatchQueue.global().async {
            let result = side.run { betweenSamples.withLock { $0 } }
            sawBetween.withLock { $0 = result }
            finished.signal()
        }
        // The run raises the sampler's wake once its work is handed over.
        #expect(side.wake.wait(timeout: .seconds(30)))
        #expect(side.run { true } == nil, "a second run while one waits is refused")
        #expect(sawBetween.withLock { $0 } == nil, "nothing ran while the sampler was busy sampling")
        betweenSamples.withLock { $0 = true }
        side.betweenSamples()
        betweenSamples.withLock { $0 = false }
        #expect(finished.wait(timeout: .now() + 30) == .success)
        #expect(sawBetween.withLock { $0 } == true, "the work ran on the sampling thread, between samples")
    }

    @Test func withNothingSamplingTheWorkRunsAtOnce() {
        let side = SamplingSide(wake: WakeUp())
        #expect(side.run { 42 } == 42)
        #expect(side.run { 43 } == 43, "one run done, the next is admitted")
    }

    @Test func stoppingTheSamplerRunsWorkStillWaiting() {
        let side = SamplingSide(wake: WakeUp())
        side.samplingStarted()
        let answer = Mutex<Int?>(nil)
        let finished = DispatchSemaphore(value: 0)
        DispatchQueue.global().async {
            answer.withLock { $0 = side.run { 5 } }
            finished.signal()
        }
        #expect(side.wake.wait(timeout: .seconds(30)))
        side.samplingStopped()
        #expect(finished.wait(timeout: .now() + 30) == .success)
        #expect(answer.withLock { $0 } == 5)
        #expect(side.run { 6 } == 6, "after sampling stopped, work runs on the caller's thread")
    }
}
