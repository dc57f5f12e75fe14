@testable import AgentRuntime
import Foundation
import IoTHub
import Logging
import Synchronization
import Testing

/// Calls from the hub wait in a bounded queue: a flood of slow calls is answered 429 at once
/// beyond the bound, and every admitted call is answered in turn.
struct MethodsFeatureTests {
    @Test func aFloodOfCallsBeyondTheBoundIsAnswered429AndNothingIsLost() {
        let release = DispatchSemaphore(value: 0)
        let answers = Mutex<[String: Int]>([:])
        let allAnswered = DispatchSemaphore(value: 0)
        let calls = MethodsFeature.maximumWaiting + 5
        let slow = DirectMethod(name: "slow") { _ in
            release.wait()
            return .ok(.object(["done": .bool(true)]))
        }
        let methods = MethodsFeature(table: [slow], logger: Logger(label: "test")) { request, result in
            let count = answers.withLock { answers in
                answers[request.requestID] = result.status
                return answers.count
            }
            if count == calls { allAnswered.signal() }
        }
        for id in 0..<calls {
            methods.receive(.methodCall(IoTHubMethodRequest(name: "slow", requestID: "\(id)"), payload: []))
        }
        // While the first call holds the queue, everything beyond the bound was refused at once.
        let refused = answers.withLock { $0 }
        #expect(refused.count == calls - MethodsFeature.maximumWaiting)
        #expect(refused.values.allSatisfy { $0 == 429 })
        for _ in 0..<MethodsFeature.maximumWaiting { release.signal() }
        #expect(allAnswered.wait(timeout: .now() + 30) == .success)
        let final = answers.withLock { $0 }
        #expect(final.count == calls)
        #expect(final.values.filter { $0 == 200 }.count == MethodsFeature.maximumWaiting)
    }
}
