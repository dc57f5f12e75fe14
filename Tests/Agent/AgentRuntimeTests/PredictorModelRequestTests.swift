import JSON
import Testing
@testable import AgentRuntime

/// The twin's `predictorModel`: what the agent passes to the predictor, and what it refuses itself.
struct PredictorModelRequestTests {
    static let hash = String(repeating: "ab", count: 32)

    @Test func readsPathAndPinnedHash() throws {
        let desired = try JSONValue.parse(Array(#"{"predictorModel":{"path":"/var/lib/fieldagent/m.json","sha256":"\#(Self.hash)"},"$version":4}"#.utf8))
        #expect(PredictorModelRequest.from(desired: desired) == .success(PredictorModelRequest(path: "/var/lib/fieldagent/m.json", sha256: Self.hash)))
        #expect(PredictorModelRequest.from(desired: try JSONValue.parse(Array(#"{"route":"hub"}"#.utf8))) == nil, "absent: nothing to do")
    }

    @Test func refusesAMissingOrMalformedHash() throws {
        for body in [#"{"predictorModel":{"path":"/m.json"}}"#,
                     #"{"predictorModel":{"path":"/m.json","sha256":"ABC"}}"#,
                     #"{"predictorModel":{"path":"","sha256":"\#(Self.hash)"}}"#,
                     #"{"predictorModel":"/m.json"}"#] {
            guard case .failure? = PredictorModelRequest.from(desired: try JSONValue.parse(Array(body.utf8))) else {
                Issue.record("accepted \(body)")
                continue
            }
        }
    }
}
