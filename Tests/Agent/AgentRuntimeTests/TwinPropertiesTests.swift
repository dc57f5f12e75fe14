import AgentRuntime
import Configuration
import Foundation
import JSON
import SensorCore
import Testing

/// Writable properties per the Plug and Play acknowledgement convention.
@Suite struct TwinPropertiesTests {
    func json(_ bytes: [UInt8]?) -> JSONValue? { bytes.flatMap { try? JSONValue.parse($0) } }

    func patch(_ text: String) -> [UInt8] { Array(text.utf8) }

    @Test func aGoodSendFrequencyIsAppliedAndAcknowledgedWithItsVersion() {
        var twin = TwinProperties(settings: AgentSettings())
        let update = twin.applyPatch(version: 4, body: patch(#"{"sendFrequency":"2s","$version":4}"#))
        #expect(twin.settings.sendFrequency == .seconds(2))
        #expect(update.changed == [.sendFrequency])
        #expect(json(update.reportedPatch) == json(patch(#"{"sendFrequency":{"value":"2s","ac":200,"av":4,"ad":"applied"}}"#)))
        #expect(twin.desiredVersion == 4)
    }

    @Test func iso8601IsAcceptedAndReportedInTheShortForm() {
        var twin = TwinProperties(settings: AgentSettings())
        let update = twin.applyPatch(version: 2, body: patch(#"{"sendFrequency":"PT5M"}"#))
        #expect(twin.settings.sendFrequency == .seconds(300))
        #expect(json(update.reportedPatch)?["sendFrequency"]?["value"] == .string("5m"))
    }

    /// The issue's list of bad values: each is answered 400 with a reason, and 30s stays in force.
    @Test(arguments: [
        (#""banana""#, "banana"),
        (#""-5s""#, "-5s"),
        ("0", "not a number"),
        (#""100000h""#, "outside 1s…24h"),
        ("12.5", "not a number"),
        ("null", "not null"),
        (#"{"seconds":5}"#, "not an object"),
        ("\"" + String(repeating: "9", count: 300 * 1024) + "s\"", "characters long"),
    ])
    func aBadSendFrequencyIsRefusedAndTheLastGoodValueStays(value: String, reasonContains: String) {
        var twin = TwinProperties(settings: AgentSettings(sendFrequency: .seconds(30)))
        let update = twin.applyPatch(version: 9, body: patch(#"{"sendFrequency":\#(value)}"#))
        #expect(twin.settings.sendFrequency == .seconds(30))
        #expect(update.changed.isEmpty)
        let ack = json(update.reportedPatch)?["sendFrequency"]
        #expect(ack?["ac"] == .integer(400))
        #expect(ack?["av"] == .integer(9))
        #expect(ack?["value"] == .string("30s"), "the value in force is reported, not the bad one")
        guard case .string(let reason)? = ack?["ad"] else {
            Issue.record("no reason in \(String(describing: ack))")
            return
        }
        #expect(reason.contains(reasonContains), "reason: \(reason.prefix(200))")
        #expect(reason.utf8.count < 200, "the reason must not echo a huge value")
    }

    @Test func aStaleVersionIsIgnored() {
        var twin = TwinProperties(settings: AgentSettings(), desiredVersion: 7)
        let update = twin.applyPatch(version: 6, body: patch(#"{"sendFrequency":"1h"}"#))
        #expect(update.stale)
        #expect(update.reportedPatch == nil)
        #expect(twin.settings.sendFrequency == .seconds(30))
        #expect(twin.applyPatch(version: 7, body: patch(#"{"sendFrequency":"1h"}"#)).stale)
    }

    @Test func eachPropertyIsJudgedOnItsOwn() {
        var twin = TwinProperties(settings: AgentSettings())
        let update = twin.applyPatch(version: 3, body: patch(#"{"sendFrequency":"5s","route":"predictor","spikeThreshold":7,"channels":{"humidity":false}}"#))
        #expect(twin.settings.sendFrequency == .seconds(5))
        #expect(twin.settings.route == .predictor)
        #expect(twin.settings.spikeThreshold == nil, "refused: the model's own decision threshold stays in force")
        #expect(twin.settings.disabledChannels == [.humidity])
        #expect(Set(update.changed) == [.sendFrequency, .route, .channels])
        #expect(update.rejected.keys.sorted { $0.rawValue < $1.rawValue } == [.spikeThreshold])
        #expect(json(update.reportedPatch)?["spikeThreshold"]?["ac"] == .integer(400))
        #expect(json(update.reportedPatch)?["channels"]?["value"]?["humidity"] == .bool(false))
        #expect(json(update.reportedPatch)?["channels"]?["value"]?["temperature"] == .bool(true))
    }

    @Test func unknownChannelsAndRoutesAreRefused() {
        var twin = TwinProperties(settings: AgentSettings())
        let update = twin.applyPatch(version: 1, body: patch(#"{"channels":{"radon":false},"route":"cloud"}"#))
        #expect(update.rejected[.channels]?.contains("'radon' is not a channel") == true)
        #expect(update.rejected[.route]?.contains("\"hub\" or \"predictor\"") == true)
        #expect(twin.settings == AgentSettings())
    }

    @Test func aFullTwinWithANewerVersionIsApplied() {
        var twin = TwinProperties(settings: AgentSettings(), desiredVersion: 2)
        let doc = patch(#"{"desired":{"sendFrequency":"10s","$version":5},"reported":{"$version":3}}"#)
        let update = twin.applyFullTwin(doc)
        #expect(twin.settings.sendFrequency == .seconds(10))
        #expect(twin.desiredVersion == 5)
        #expect(json(update.reportedPatch)?["sendFrequency"]?["av"] == .integer(5))
    }

    @Test func aFullTwinAlreadyAppliedAndAcknowledgedChangesNothing() {
        var twin = TwinProperties(settings: AgentSettings(sendFrequency: .seconds(10)), desiredVersion: 5)
        let doc = patch(#"{"desired":{"sendFrequency":"10s","$version":5},"reported":{"sendFrequency":{"value":"10s","ac":200,"av":5},"$version":4}}"#)
        #expect(twin.applyFullTwin(doc) == TwinProperties.Update())
        // Applied but the acknowledgement never reached the hub: it is sent again.
        let unacked = patch(#"{"desired":{"sendFrequency":"10s","$version":5},"reported":{"$version":4}}"#)
        #expect(json(twin.applyFullTwin(unacked).reportedPatch)?["sendFrequency"]?["ac"] == .integer(200))
    }

    @Test func defaultsAreReportedWith203WhenTheTwinHasNoDesiredValue() {
        let twin = TwinProperties(settings: AgentSettings())
        let report = json(twin.defaultsReport(for: patch(#"{"desired":{"$version":1},"reported":{"$version":1}}"#)))
        #expect(report?["sendFrequency"] == json(patch(#"{"value":"30s","ac":203,"av":0,"ad":"device default"}"#)))
        #expect(report?["route"]?["value"] == .string("hub"))
    }

    @Test func snapshotsRoundTripThroughJSON() throws {
        var twin = TwinProperties(settings: AgentSettings())
        _ = twin.applyPatch(version: 8, body: patch(#"{"sendFrequency":"90s","channels":{"pressure":false}}"#))
        let data = try JSONEncoder().encode(twin.snapshot)
        let restored = TwinProperties(snapshot: try JSONDecoder().decode(TwinProperties.Snapshot.self, from: data))
        #expect(restored == twin)
        #expect(restored.settings.sendFrequency == .seconds(90))
    }

    @Test func garbageIsReportedNotApplied() {
        var twin = TwinProperties(settings: AgentSettings())
        #expect(twin.applyPatch(version: 2, body: patch("not json")).unreadable != nil)
        #expect(twin.applyFullTwin(patch("[]")).unreadable != nil)
        #expect(twin.desiredVersion == 0)
    }

    /// A GET answered before a patch that overtook it: the older twin must not roll the newer
    /// value back; the agent asks again. Only a run of older answers (a recreated twin whose
    /// versions restarted) is taken as the hub's.
    @Test func aStaleFullTwinAfterANewerPatchLeavesTheNewerValue() {
        var twin = TwinProperties(settings: AgentSettings())
        _ = twin.applyFullTwin(patch(#"{"desired":{"sendFrequency":"9s","$version":9},"reported":{"$version":1}}"#))
        _ = twin.applyPatch(version: 10, body: patch(#"{"sendFrequency":"10s"}"#))
        let stale = patch(#"{"desired":{"sendFrequency":"9s","$version":9},"reported":{"$version":1}}"#)
        for _ in 0..<TwinProperties.staleFullTwinRetries {
            let update = twin.applyFullTwin(stale)
            #expect(update.askAgain && update.stale)
            #expect(update.reportedPatch == nil)
            #expect(twin.settings.sendFrequency == .seconds(10))
            #expect(twin.desiredVersion == 10)
        }
        let restarted = twin.applyFullTwin(stale)
        #expect(!restarted.askAgain)
        #expect(twin.settings.sendFrequency == .seconds(9))
        #expect(json(restarted.reportedPatch)?["sendFrequency"]?["av"] == .integer(9))
    }

    @Test func aCurrentFullTwinBetweenStaleOnesResetsTheRetries() {
        var twin = TwinProperties(settings: AgentSettings(), desiredVersion: 10)
        let stale = patch(#"{"desired":{"sendFrequency":"9s","$version":9},"reported":{}}"#)
        for _ in 0..<TwinProperties.staleFullTwinRetries - 1 { #expect(twin.applyFullTwin(stale).askAgain) }
        _ = twin.applyFullTwin(patch(#"{"desired":{"sendFrequency":"11s","$version":11},"reported":{}}"#))
        #expect(twin.applyPatch(version: 12, body: patch(#"{"sendFrequency":"12s"}"#)).changed == [.sendFrequency])
        for _ in 0..<TwinProperties.staleFullTwinRetries { #expect(twin.applyFullTwin(stale).askAgain) }
        #expect(twin.settings.sendFrequency == .seconds(12))
    }

    /// Values every writable property accepts, differing from the defaults.
    static let goodValues = AgentSettings(sendFrequency: .seconds(5), disabledChannels: [.humidity], spikeThreshold: 0.7, route: .predictor)

    /// `{"a":{"b":value}}` for the property `a.b`: where the twin holds a writable property.
    static func placed(_ property: WritableProperty, _ value: String) -> String {
        property.rawValue.split(separator: ".").reversed().reduce(value) { inner, name in #"{"\#(name)":\#(inner)}"# }
    }

    static func document(_ members: [(WritableProperty, String)]) -> [UInt8] {
        let parts = members.map { property, value in
            let object = placed(property, value)
            return String(object.dropFirst().dropLast())
        }
        return Array(("{" + parts.joined(separator: ",") + "}").utf8)
    }

    /// For every key in the table: a value that cannot even be decoded gets its own `ac: 400`
    /// while every other key in the same patch is applied and acknowledged.
    @Test(arguments: WritableProperty.allCases, ["1e999", #""\ud800""#, #""\q""#])
    func aPatchWithOneUndecodableValueAcknowledgesTheOthers(bad: WritableProperty, undecodable: String) {
        let initial = AgentSettings()
        var twin = TwinProperties(settings: initial)
        // Two paths to one setting: with one unreadable, the other would change what it guards.
        let sharing: [WritableProperty: WritableProperty] = [.sendFrequency: .telemetryConfig, .telemetryConfig: .sendFrequency]
        let included = WritableProperty.allCases.filter { $0 != sharing[bad] }
        let members = included.map { property in
            (property, property == bad ? undecodable : Self.goodValues.twinValue(property).description)
        }
        let update = twin.applyPatch(version: 6, body: Self.document(members))
        #expect(update.unreadable == nil)
        let acks = json(update.reportedPatch)
        for property in included {
            let ack = TwinProperties.member(acks, property)
            #expect(ack?["av"] == .integer(6), "\(property) is acknowledged")
            if property == bad {
                #expect(ack?["ac"] == .integer(400))
                #expect(ack?["value"] == initial.twinValue(property), "the value in force stays")
                #expect(twin.settings.twinValue(property) == initial.twinValue(property))
                #expect(update.rejected[property]?.contains("cannot be read") == true)
            } else {
                #expect(ack?["ac"] == .integer(200), "\(property): \(String(describing: ack))")
                #expect(twin.settings.twinValue(property) == Self.goodValues.twinValue(property))
            }
        }
        #expect(twin.desiredVersion == 6)
    }

    @Test func aFullTwinWithOneUndecodableValueAppliesTheOthers() {
        var twin = TwinProperties(settings: AgentSettings())
        let update = twin.applyFullTwin(patch(#"{"desired":{"spikeThreshold":-1e400,"sendFrequency":"7s","$version":3},"reported":{"$version":1}}"#))
        #expect(twin.settings.sendFrequency == .seconds(7))
        #expect(twin.settings.spikeThreshold == AgentSettings().spikeThreshold)
        #expect(json(update.reportedPatch)?["spikeThreshold"]?["ac"] == .integer(400))
        #expect(update.rejected[.spikeThreshold]?.contains("out of range") == true)
        // The unreadable property has a desired value, so no device default is claimed for it.
        let defaults = json(twin.defaultsReport(for: patch(#"{"desired":{"spikeThreshold":1e999,"$version":3},"reported":{}}"#)))
        #expect(defaults?["spikeThreshold"] == nil)
        #expect(defaults?["route"]?["ac"] == .integer(203))
    }

    // Issue 15: the edge-analytics recipe's path, `telemetryConfig.sendFrequency`.
    @Test func theRecipesTelemetryConfigPathSetsTheSendPeriodAndIsAcknowledgedAtItsOwnPath() {
        var twin = TwinProperties(settings: AgentSettings())
        let update = twin.applyPatch(version: 6, body: patch(#"{"telemetryConfig":{"sendFrequency":"10s"}}"#))
        #expect(twin.settings.sendFrequency == .seconds(10))
        #expect(update.changed == [.telemetryConfig])
        #expect(json(update.reportedPatch) == json(patch(#"{"telemetryConfig":{"value":{"sendFrequency":"10s"},"ac":200,"av":6,"ad":"applied"}}"#)))
    }

    @Test(arguments: [#"{"sendFrequency":"0s"}"#, #"{"sendFrequency":5}"#, #"{"period":"10s"}"#, #""10s""#])
    func aBadTelemetryConfigIsRefusedWith400AndTheOldPeriodStays(_ value: String) {
        var twin = TwinProperties(settings: AgentSettings(sendFrequency: .seconds(30)))
        let update = twin.applyPatch(version: 2, body: patch(#"{"telemetryConfig":\#(value)}"#))
        #expect(twin.settings.sendFrequency == .seconds(30))
        let ack = json(update.reportedPatch)?["telemetryConfig"]
        #expect(ack?["ac"] == .integer(400))
        #expect(ack?["value"] == json(patch(#"{"sendFrequency":"30s"}"#)))
        #expect(update.rejected[.telemetryConfig]?.hasPrefix("telemetryConfig") == true)
    }

    @Test func whenBothPathsAreSetInOneDocumentTelemetryConfigWinsAndBothShowTheValueInForce() {
        var twin = TwinProperties(settings: AgentSettings())
        let update = twin.applyFullTwin(patch(#"{"desired":{"sendFrequency":"20s","telemetryConfig":{"sendFrequency":"10s"},"$version":3},"reported":{}}"#))
        #expect(twin.settings.sendFrequency == .seconds(10))
        let reported = json(update.reportedPatch)
        #expect(reported?["sendFrequency"]?["value"] == .string("10s"))
        #expect(reported?["telemetryConfig"]?["value"]?["sendFrequency"] == .string("10s"))
    }

    @Test func unknownDesiredKeysAreAcknowledged404AndComponentsAndMetadataAreLeftAlone() {
        var twin = TwinProperties(settings: AgentSettings())
        let update = twin.applyPatch(version: 4, body: patch(#"{"sendFrequency":"5s","colour":"red","thermostat":{"__t":"c","target":20},"$version":4}"#))
        #expect(update.unknown == ["colour"])
        let reported = json(update.reportedPatch)
        #expect(reported?["colour"] == json(patch(#"{"value":"red","ac":404,"av":4,"ad":"not a writable property of this device's model"}"#)))
        #expect(reported?["thermostat"] == nil)
        #expect(reported?["$version"] == nil)
        #expect(twin.settings.sendFrequency == .seconds(5))
    }

    /// `predictorModel` is the twin feature's to acknowledge (200 or 500 once the predictor
    /// answered), never a 404 here first.
    @Test func aDesiredPredictorModelIsNotAcknowledgedAsUnknown() {
        var twin = TwinProperties(settings: AgentSettings())
        let update = twin.applyPatch(version: 5, body: patch(#"{"predictorModel":{"path":"/m.json","sha256":"\#(String(repeating: "a", count: 64))"},"$version":5}"#))
        #expect(update.unknown == [])
        #expect(json(update.reportedPatch)?["predictorModel"] == nil)
    }

    @Test func theTelemetryConfigDefaultIsReportedWith203() {
        let twin = TwinProperties(settings: AgentSettings(sendFrequency: .seconds(45)))
        let report = json(twin.defaultsReport(for: patch(#"{"desired":{"$version":1},"reported":{"$version":1}}"#)))
        #expect(report?["telemetryConfig"] == json(patch(#"{"value":{"sendFrequency":"45s"},"ac":203,"av":0,"ad":"device default"}"#)))
    }
}
