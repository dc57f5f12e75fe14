import Foundation
import HubClient
import Logging
import MQTT
import Synchronization
import Testing

/// The link's own behaviour against a scripted hub on a manual clock: no broker, no sleep, every
/// step settled before it is checked (the Mosquitto suite is the real-broker proof).
@Suite("HubClient over a scripted hub and a manual clock")
struct HubClientLinkTests {
    static let topic = "devices/dev-1/messages/events/%24.mid=dev-1-7"

    func settings(base: Duration = .milliseconds(500), cap: Duration = .seconds(4)) -> HubClient.Settings {
        var settings = HubClient.Settings(host: "hub.example", deviceID: "dev-1", certificateFile: "unused.pem",
                                          keyFile: "unused.key", trustAnchors: "unused")
        settings.backoffBase = base
        settings.backoffCap = cap
        return settings
    }

    func link(_ settings: HubClient.Settings, source: (any HubMessageSource)? = nil, seed: UInt64 = 42)
        -> (HubClient, ScriptedHub) {
        let hub = ScriptedHub(clock: ManualClock())
        let client = HubClient(settings: settings, logger: Logger(label: "test"), source: source, stream: hub,
                               clock: hub.clock, random: SeededGenerator(seed: seed))
        return (client, hub)
    }

    /// Starts the link and answers its CONNECT with an accepting CONNACK.
    func connect(_ client: HubClient, _ hub: ScriptedHub, sessionPresent: Bool = false) throws {
        client.start()
        try hub.settle()
        try hub.feed(.connAck(.init(sessionPresent: sessionPresent, returnCode: .accepted)))
        try hub.settle()
    }

    static let connAck = MQTTPacket.connAck(.init(sessionPresent: true, returnCode: .accepted))

    func publishes(_ packets: [MQTTPacket]) -> [MQTTPacket.Publish] {
        packets.compactMap { if case .publish(let publish) = $0, publish.qos == .atLeastOnce { publish } else { nil } }
    }

    func count(_ type: MQTTPacketType, in packets: [MQTTPacket]) -> Int {
        packets.filter { $0.type == type }.count
    }

    @Test("CONNECT carries the IoT Hub client id and user name; CONNACK makes the link connected and subscribed")
    func connectAndConnAck() throws {
        let (client, hub) = link(settings())
        client.start()
        defer { client.stop() }
        try hub.settle()
        #expect(hub.attempts == [.zero])
        #expect(client.state == .connecting)
        guard case .connect(let connect)? = hub.packets.first?.first else {
            Issue.record("expected CONNECT first, got \(hub.packets)")
            return
        }
        #expect(connect.clientID == "dev-1")
        #expect(connect.username == "hub.example/dev-1/?api-version=2021-04-12")
        #expect(connect.keepAliveSeconds == 60 && !connect.cleanSession)
        // Waiting for CONNACK: the link sleeps until the CONNACK time-out, not a polling tick.
        #expect(hub.lastWaitTimeout == .some(.seconds(30)))

        try hub.feed(.connAck(.init(sessionPresent: false, returnCode: .accepted)))
        try hub.settle()
        #expect(client.state == .connected)
        #expect(client.statistics.connects == 1)
        guard case .subscribe(let subscribe)? = hub.packets[0].last else {
            Issue.record("expected SUBSCRIBE after CONNACK, got \(hub.packets[0])")
            return
        }
        #expect(subscribe.subscriptions.map(\.filter) == ["$iothub/twin/res/#", "$iothub/twin/PATCH/properties/desired/#",
                                                          "$iothub/methods/POST/#", "devices/dev-1/messages/devicebound/#"])
        // Idle: asleep until the keep-alive is due.
        #expect(hub.lastWaitTimeout == .some(.seconds(60)))

        // A message handed over by another thread wakes the link; no time passes.
        try client.send(Array("{}".utf8), properties: .init(messageID: "m-1"))
        try hub.settle()
        #expect(publishes(hub.packets[0]).map(\.topic) == ["devices/dev-1/messages/events/%24.mid=m-1"])
        #expect(hub.clock.now == .zero)
    }

    @Test("a QoS 1 publish unacknowledged when the stream drops goes again with DUP after reconnect; its token is acknowledged only after the PUBACK")
    func redeliveryAfterDrop() throws {
        let payload = Array(#"{"seq":7}"#.utf8)
        let source = ListSource([HubOutgoing(topic: Self.topic, payload: payload, token: 7)])
        let (client, hub) = link(settings(), source: source)
        defer { client.stop() }
        try connect(client, hub)
        let first = publishes(hub.packets[0])
        #expect(first.map(\.topic) == [Self.topic])
        #expect(first.first?.dup == false)
        guard let id = first.first?.packetID else { return }

        hub.dropConnection()
        try hub.settle()
        #expect(client.state == .waiting(reason: "the hub closed the connection"))
        #expect(!hub.connectionOpen)
        #expect(source.acknowledgedTokens.isEmpty)

        try hub.advance(by: .milliseconds(500))  // the whole first backoff window
        #expect(hub.attempts.count == 2)
        try hub.feed(Self.connAck)
        try hub.settle()
        #expect(publishes(hub.packets[1]) == [MQTTPacket.Publish(topic: Self.topic, payload: payload, qos: .atLeastOnce,
                                                                 dup: true, packetID: id)])
        #expect(client.statistics.retransmitted == 1)
        #expect(source.acknowledgedTokens.isEmpty, "not before the PUBACK")

        try hub.feed(.pubAck(.init(packetID: id)))
        try hub.settle()
        #expect(source.acknowledgedTokens == [7])
        #expect(client.unacknowledged == 0)
    }

    @Test("PINGREQ goes when the keep-alive interval passes on the clock; a missing PINGRESP drops the connection and the link reconnects")
    func keepAlive() throws {
        let (client, hub) = link(settings())
        defer { client.stop() }
        try connect(client, hub)  // SUBSCRIBE written at 0 s

        try hub.advance(by: .seconds(59))
        #expect(count(.pingReq, in: hub.packets[0]) == 0)
        #expect(hub.lastWaitTimeout == .some(.seconds(1)))
        try hub.advance(by: .seconds(1))
        #expect(count(.pingReq, in: hub.packets[0]) == 1)

        // Answered: the connection stays, and the next PINGREQ is due 60 s after the first.
        try hub.feed(.pingResp)
        try hub.settle()
        try hub.advance(by: .seconds(30))
        #expect(client.state == .connected)
        try hub.advance(by: .seconds(30))
        #expect(count(.pingReq, in: hub.packets[0]) == 2)

        // Not answered within the 30 s PINGRESP time-out: dropped, then a new connection.
        try hub.advance(by: .seconds(29))
        #expect(client.state == .connected)
        try hub.advance(by: .seconds(1))
        guard case .waiting(let reason) = client.state else {
            Issue.record("expected the link to wait for a reconnect, got \(client.state)")
            return
        }
        #expect(reason.hasPrefix("no PINGRESP within"), "\(reason)")
        #expect(!hub.connectionOpen)
        try hub.advance(by: .milliseconds(500))
        #expect(hub.attempts.count == 2)
        #expect(hub.connectionOpen)
    }

    @Test("reconnect delays are full jitter in windows doubling up to the cap; refused 6 times, then accepted, the link ends connected")
    func backoffGrowsToTheCapAndEndsConnected() throws {
        let (client, hub) = link(settings(base: .seconds(1), cap: .seconds(8)), seed: 7)
        defer { client.stop() }
        hub.refuseConnects(6)
        client.start()
        try hub.settle()
        // Full jitter: attempt n waits a uniform draw from [0, min(cap, base · 2ⁿ)], from the same seed.
        let windows: [Duration] = [.seconds(1), .seconds(2), .seconds(4), .seconds(8), .seconds(8), .seconds(8)]
        var expected = SeededGenerator(seed: 7)
        var delays: [Duration] = []
        for (n, window) in windows.enumerated() {
            let nanoseconds = UInt64(window.components.seconds) * 1_000_000_000
            let delay = Duration.nanoseconds(Int64(UInt64.random(in: 0...nanoseconds, using: &expected)))
            delays.append(delay)
            #expect(hub.lastWaitTimeout == .some(delay), "attempt \(n)")
            #expect(client.lastError == "the scripted hub refused the connection")
            if delay > .zero {
                try hub.advance(by: delay - .nanoseconds(1))
                #expect(hub.attempts.count == n + 1, "attempt \(n): not before its delay")
            }
            try hub.advance(by: delay > .zero ? .nanoseconds(1) : .zero)
            #expect(hub.attempts.count == n + 2, "attempt \(n): right at its delay")
        }
        let attempts = hub.attempts
        #expect(zip(attempts.dropFirst(), attempts).map { $0 - $1 } == delays)
        #expect(delays.max().map { $0 > .seconds(4) } == true, "the later windows are wider")
        try hub.feed(Self.connAck)
        try hub.settle()
        #expect(client.state == .connected)
        #expect(client.statistics.connects == 1)
    }

    @Test("failed connects are counted in a row for the observer, a CONNACK refusal is named, a connection that was up is not a failure")
    func connectFailuresAreObserved() throws {
        let (client, hub) = link(settings(base: .seconds(1), cap: .seconds(1)))
        defer { client.stop() }
        let seen = Mutex<[HubConnectFailure]>([])
        client.observeConnectFailures { failure in seen.withLock { $0.append(failure) } }
        hub.refuseConnects(2)
        client.start()
        try hub.settle()
        try hub.advance(by: .seconds(1))
        try hub.advance(by: .seconds(1))
        try hub.feed(.connAck(.init(sessionPresent: false, returnCode: .notAuthorized)))
        try hub.settle()
        var failures = seen.withLock { $0 }
        #expect(failures.map(\.consecutive) == [1, 2, 3])
        #expect(failures.map(\.refusesDevice) == [false, false, true])
        #expect(failures.last?.refusal == .notAuthorized)
        #expect(failures.last?.reason == "the hub refused the connection: CONNACK \(MQTTPacket.ConnAck.ReturnCode.notAuthorized)")
        // Accepted, then dropped: not a failed connect; the count starts again after it.
        try hub.advance(by: .seconds(1))
        try hub.feed(Self.connAck)
        try hub.settle()
        hub.dropConnection()
        try hub.settle()
        #expect(seen.withLock { $0.count } == 3)
        hub.refuseConnects(1)
        try hub.advance(by: .seconds(1))
        failures = seen.withLock { $0 }
        #expect(failures.count == 4 && failures.last?.consecutive == 1 && failures.last?.refusal == nil)
    }

    @Test("stop during a backoff returns at once, without the clock moving")
    func stopDuringBackoff() throws {
        let (client, hub) = link(settings(base: .seconds(30), cap: .seconds(60)), seed: 3)
        hub.refuseConnects(Int.max)
        client.start()
        try hub.settle()
        guard case .waiting = client.state else {
            Issue.record("expected a backoff, got \(client.state)")
            return
        }
        let began = ContinuousClock.now
        client.stop()
        #expect(client.state == .stopped)
        #expect(ContinuousClock.now - began < .seconds(2))
        #expect(hub.attempts == [.zero])
        #expect(hub.clock.now == .zero)
    }

    @Test("a source that gains a message wakes the link; a paced source is asked again after its delay on the clock")
    func sourceWakeUpAndPacing() throws {
        let source = WakingSource()
        let (client, hub) = link(settings(), source: source)
        defer { client.stop() }
        try connect(client, hub)
        #expect(publishes(hub.packets[0]).isEmpty)

        source.add(HubOutgoing(topic: Self.topic, payload: [1], token: 1))
        try hub.settle()
        #expect(publishes(hub.packets[0]).map(\.payload) == [[1]])

        // Paced: the message is there but held back for 250 ms of clock time.
        source.hold(for: .milliseconds(250))
        source.add(HubOutgoing(topic: Self.topic, payload: [2], token: 2))
        try hub.settle()
        #expect(publishes(hub.packets[0]).map(\.payload) == [[1]])
        #expect(hub.lastWaitTimeout == .some(.milliseconds(250)))
        try hub.advance(by: .milliseconds(250))
        #expect(publishes(hub.packets[0]).map(\.payload) == [[1], [2]])
        // An empty source is not asked again on every turn of the link (here: a PINGRESP).
        let asked = source.takes
        try hub.feed(.pingResp)
        try hub.settle()
        #expect(source.takes == asked)
    }
}

/// SplitMix64: a small seeded generator, so the link's jitter is reproducible.
struct SeededGenerator: RandomNumberGenerator, Sendable {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// A source that is told about new messages (and wakes the link), optionally pacing them.
final class WakingSource: HubMessageSource {
    struct State {
        var messages: [HubOutgoing] = []
        var wakeUp: (@Sendable () -> Void)?
        var heldFor: Duration?
        var delay: Duration?
        var takes = 0
    }
    let state = Mutex(State())

    func add(_ message: HubOutgoing) {
        let wakeUp = state.withLock { s in
            s.messages.append(message)
            return s.wakeUp
        }
        wakeUp?()
    }

    /// The next take hands out nothing and asks to be asked again after `delay`.
    func hold(for delay: Duration) { state.withLock { $0.heldFor = delay } }

    var takes: Int { state.withLock { $0.takes } }

    func take(limit: Int) -> [HubOutgoing] {
        state.withLock { s in
            s.takes += 1
            if let held = s.heldFor {
                s.heldFor = nil
                s.delay = held
                return []
            }
            s.delay = nil
            let batch = Array(s.messages.prefix(limit))
            s.messages.removeFirst(batch.count)
            return batch
        }
    }

    func acknowledged(_ tokens: [UInt64]) {}
    var waiting: Int { state.withLock { $0.messages.count } }
    func setWakeUp(_ wakeUp: @escaping @Sendable () -> Void) { state.withLock { $0.wakeUp = wakeUp } }
    var pacingDelay: Duration? { state.withLock { $0.delay } }
}
