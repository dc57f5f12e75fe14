import IoTHub
import Testing

@Suite struct IoTHubRequestTableTests {
    enum Request: Equatable { case twinGet, reportedPatch }

    @Test func resolveReturnsTheContextOnce() throws {
        var table = IoTHubRequestTable<Request>(timeout: .seconds(10))
        let rid = table.makeRequestID()
        try table.register(rid, context: .twinGet, now: .seconds(1))
        #expect(table.count == 1)
        #expect(table.nextDeadline == .seconds(11))
        #expect(table.resolve(rid)?.context == .twinGet)
        #expect(table.resolve(rid) == nil)
        #expect(table.isEmpty)
    }

    @Test func duplicatesAndBadIDsAreRefused() throws {
        var table = IoTHubRequestTable<Void>(timeout: .seconds(10))
        try table.register("1", now: .zero)
        #expect(throws: IoTHubError.duplicateRequestID("1")) { try table.register("1", now: .zero) }
        #expect(throws: IoTHubError.invalidRequestID("a/b")) { try table.register("a/b", now: .zero) }
    }

    @Test func expiryAtTheDeadlineOldestFirst() throws {
        var table = IoTHubRequestTable<Request>(timeout: .seconds(10))
        try table.register("b", context: .reportedPatch, now: .seconds(2))
        try table.register("a", context: .twinGet, now: .seconds(1))
        try table.register("c", context: .twinGet, now: .seconds(5))
        #expect(table.expired(now: .milliseconds(10_999)).isEmpty)
        #expect(table.expired(now: .seconds(12)).map(\.requestID) == ["a", "b"])
        #expect(table.expired(now: .seconds(12)).isEmpty)
        #expect(table.resolve("a") == nil)   // a late response to an expired request is unknown
        #expect(table.count == 1)
    }

    @Test func requestIDsSkipOnesStillWaiting() throws {
        var table = IoTHubRequestTable<Void>(timeout: .seconds(1))
        try table.register("2", now: .zero)
        #expect(table.makeRequestID() == "1")
        #expect(table.makeRequestID() == "3")
    }
}

@Suite struct IoTHubStatusTests {
    @Test func backOffOn429And5xxOnly() {
        for code in [429, 500, 503, 504] { #expect(IoTHubStatus(code).shouldBackOff, "\(code)") }
        for code in [200, 204, 400, 401, 404, 413] { #expect(!IoTHubStatus(code).shouldBackOff, "\(code)") }
        #expect(IoTHubStatus(200).classification == .success)
        #expect(IoTHubStatus(204).classification == .success)
        #expect(IoTHubStatus(429).classification == .throttled)
        #expect(IoTHubStatus(503).classification == .serverError)
        #expect(IoTHubStatus(404).classification == .clientError)
        #expect(IoTHubStatus(302).classification == .unexpected)
        // A.13: the Embedded C SDK's narrower rule.
        #expect([429, 500, 503].map { IoTHubStatus($0).isRetriableByEmbeddedSDK } == [true, true, false])
    }

    @Test func limitsMatchTheSheet() {
        #expect(IoTHubLimits.maximumTelemetryMessageBytes == 262_144)
        #expect(IoTHubLimits.maximumCloudToDeviceMessageBytes == 65_536)
        #expect(IoTHubLimits.maximumMethodPayloadBytes == 131_072)
        #expect(IoTHubLimits.maximumSubscriptions == 5)
        #expect(IoTHubLimits.maximumKeepAliveSeconds == 1177)
        #expect(IoTHubLimits.maximumMessageIDLength == 128)
        #expect(IoTHubLimits.maximumTwinInteger == (1 << 52) - 1)
    }
}
