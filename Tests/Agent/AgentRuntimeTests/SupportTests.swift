import AgentRuntime
import Boards
import Foundation
import HALSimulation
import JSON
import Logging
import Synchronization
import TestSupport
import Testing

@Suite struct LogRingTests {
    let start = Date(timeIntervalSince1970: 1_800_000_000)

    @Test func theRingKeepsItsByteBoundDroppingTheOldest() {
        let ring = LogRing(capacity: 4096)
        for i in 0..<1000 {
            ring.append(date: start + Double(i), level: .info, label: "t", message: "line \(i)", metadata: [:])
        }
        let all = ring.excerpt(maxBytes: 1 << 20)
        #expect(all.lines.reduce(0) { $0 + $1.utf8.count + 1 } <= 4096)
        #expect(all.lines.last?.hasSuffix("info line 999") == true)
        #expect(all.droppedByRing == 1000 - all.lines.count)
        #expect(all.omitted == 0)
    }

    @Test func anExcerptIsTheNewestThatFitFilteredByLevelAndTime() {
        let ring = LogRing()
        ring.append(date: start, level: .warning, label: "t", message: "old warning", metadata: ["feature": "hub"])
        ring.append(date: start + 10, level: .debug, label: "t", message: "chatter", metadata: [:])
        ring.append(date: start + 20, level: .error, label: "t", message: "new error", metadata: [:])
        ring.append(date: start + 30, level: .warning, label: "t", message: "newest warning", metadata: [:])
        let warnings = ring.excerpt(level: .warning, maxBytes: 1 << 16)
        #expect(warnings.lines == ["2027-01-15T08:00:00.000Z warning [feature=hub] old warning",
                                   "2027-01-15T08:00:20.000Z error new error",
                                   "2027-01-15T08:00:30.000Z warning newest warning"])
        #expect(ring.excerpt(since: start + 15, level: .warning, maxBytes: 1 << 16).lines.count == 2)
        // Room for one line: the newest, and the rest counted as omitted.
        let tight = ring.excerpt(level: .warning, maxBytes: 60)
        #expect(tight.lines == ["2027-01-15T08:00:30.000Z warning newest warning"])
        #expect(tight.omitted == 2)
    }

    @Test func theHandlerTeesLoggerMessagesWithTheirMetadata() {
        let ring = LogRing()
        let logger = Logger(label: "agent") { label in RingLogHandler(label: label, ring: ring, level: .notice) }
        logger.info("not kept: below the level")
        logger.warning("hub link down", metadata: ["feature": "hub"])
        let lines = ring.excerpt(maxBytes: 4096).lines
        #expect(lines.count == 1)
        #expect(lines.first?.hasSuffix("warning [feature=hub] hub link down") == true)
    }
}

/// getLogs and getSupportBundle on a simulated board (the same answers go through LocalHub in
/// AgentLocalHubTests).
@Suite struct SupportMethodTests {
    func agent(ring: LogRing?, stateDirectory: String? = nil) throws -> Agent {
        let logger = ring.map { ring in Logger(label: "agent") { RingLogHandler(label: $0, ring: ring, level: .info) } } ?? Logger(label: "agent")
        return Agent(board: try openBoard("sim-factory-line"),
                     options: .init(agentVersion: "test", config: testConfig(sendFrequency: .seconds(10), stateDirectory: stateDirectory),
                                    count: 2, logRing: ring),
                     hub: nil, logger: logger)
    }

    func json(_ body: [UInt8]) throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: Data(body)) as? [String: Any])
    }

    @Test func getLogsAnswersTheRingsLinesAtTheAskedLevel() throws {
        let ring = LogRing()
        let agent = try agent(ring: ring)
        let logger = Logger(label: "agent") { RingLogHandler(label: $0, ring: ring, level: .info) }
        logger.info("sampling started")
        logger.error("cannot open /dev/i2c-1", metadata: ["feature": "board"])
        let (status, body) = agent.invoke("getLogs", payload: Array(#"{"level":"error","maxBytes":2048}"#.utf8))
        #expect(status == 200, "\(String(decoding: body, as: UTF8.self))")
        let lines = try #require(try json(body)["lines"] as? [String])
        #expect(lines.count == 1)
        #expect(lines.first?.hasSuffix("error [feature=board] cannot open /dev/i2c-1") == true)
        #expect(agent.invoke("getLogs", payload: Array(#"{"level":"loud"}"#.utf8)).0 == 400)
        #expect(agent.invoke("getLogs", payload: Array(#"{"maxBytes":10}"#.utf8)).0 == 400)
        #expect(agent.invoke("getLogs", payload: Array(#"{"since":"yesterday"}"#.utf8)).0 == 400)
        #expect(try self.agent(ring: nil).invoke("getLogs", payload: []).0 == 409)
    }

    @Test func theBundleHasEverySectionAndRegisterImagesAnI2cdumpCanReplay() throws {
        let ring = LogRing()
        let folder = try TemporaryDirectory(prefix: "support")
        let agent = try agent(ring: ring, stateDirectory: folder.path)
        try agent.run()
        Logger(label: "agent") { RingLogHandler(label: $0, ring: ring, level: .info) }.notice("a line for the bundle")
        let (status, body) = agent.invoke("getSupportBundle", payload: [])
        #expect(status == 200)
        #expect(body.count <= 65536)
        let bundle = try json(body)
        #expect(bundle["omitted"] as? [String] == [])
        for section in ["status", "configuration", "doctor", "registers", "logs"] {
            #expect(bundle[section] != nil, "no \(section)")
        }
        #expect((bundle["configuration"] as? [String: String])?["state_dir"] == folder.path)
        #expect(((bundle["status"] as? [String: Any])?["sensors"] as? [Any])?.count == 3)
        // The SHT31 takes commands, so it has no image; the BME280's parses as i2cdump output and
        // holds its chip id (0x60 at 0xD0, datasheet §5.4.1) and calibration words.
        let registers = try #require(bundle["registers"] as? [String: [String: Any]])
        #expect(registers.keys.sorted() == ["ambient", "motor"])
        let ambient = try #require(registers["ambient"]?["i2cdump"] as? String)
        let dump = try I2CDump(parsing: ambient)
        #expect(dump.bytes[0xD0] == 0x60)
        #expect(dump.bytes[0x88] != nil && dump.bytes[0x7F] == nil)
        let motor = try I2CDump(parsing: try #require(registers["motor"]?["i2cdump"] as? String))
        #expect(motor.bytes[0x00] == 0xE5)  // ADXL345 DEVID (datasheet Table 19)
        #expect((bundle["logs"] as? [String])?.last?.hasSuffix("a line for the bundle") == true)
    }

    @Test(arguments: [1024, 4096, 20_000])
    func theBundleStaysWithinItsBoundLeavingOutWhatDoesNotFit(maxBytes: Int) throws {
        let ring = LogRing()
        let logger = Logger(label: "agent") { RingLogHandler(label: $0, ring: ring, level: .info) }
        for i in 0..<2000 { logger.notice("filler line \(i) \(String(repeating: "\"quoted\" ", count: 8))") }
        let agent = try agent(ring: ring)
        let (status, body) = agent.invoke("getSupportBundle", payload: Array(#"{"maxBytes":\#(maxBytes)}"#.utf8))
        #expect(status == 200)
        #expect(body.count <= maxBytes, "\(body.count) bytes for a bound of \(maxBytes)")
        let bundle = try json(body)
        let omitted = try #require(bundle["omitted"] as? [String])
        // 1 KB holds the header and little else; whatever is left out is named, and absent.
        if maxBytes == 1024 { #expect(omitted.contains("doctor") && omitted.contains("registers")) }
        for section in omitted { #expect(bundle[section] == nil) }
        #expect(bundle["agentVersion"] as? String == "test")
    }
}
