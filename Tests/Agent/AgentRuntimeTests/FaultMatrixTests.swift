import AgentRuntime
import Boards
import HALSimulation
import Logging
import SensorCore
import Testing

/// Issue 2 acceptance: no crash, hang or made-up value under any planted fault. Every chip runs
/// under every fault kind through the sampler for two simulated minutes.
@Suite struct FaultMatrixTests {
    static let chips = ["{ name: s, chip: BME280, address: 0x76 }",
                        "{ name: s, chip: SHT31, address: 0x44 }",
                        "{ name: s, chip: ADXL345, address: 0x53 }"]
    static let faults = ["{ chip: s, kind: absent }",
                         "{ chip: s, kind: intermittent_nack, rate: 0.3 }",
                         "{ chip: s, kind: crc_corruption, rate: 0.5 }",
                         "{ chip: s, kind: stuck }",
                         "{ chip: s, kind: stuck, byte: 0xFF }",
                         "{ chip: s, kind: timeout, at: 20s, until: 40s }",
                         "{ chip: s, kind: chip_reset, at: 30s }",
                         "{ chip: s, kind: unplug, at: 20s, until: 50s }"]

    /// What each channel can physically be; anything outside is a made-up value.
    static let physical: [Channel: ClosedRange<Double>] = [
        .temperature: -40...85, .humidity: 0...100, .pressure: 30_000...110_000,
        .accelerationX: -16...16, .accelerationY: -16...16, .accelerationZ: -16...16,
        .vibrationRMS: 0...16, .vibrationPeak: 0...32,
    ]

    @Test(arguments: chips, faults)
    func samplerSurvivesAndNeverInventsAValue(chip: String, fault: String) throws {
        let yaml = """
        board: matrix
        device_id: matrix-01
        backend: simulated
        i2c:
          - bus: /dev/i2c-1
            chips: [\(chip)]
        simulation:
          seed: 11
          signals:
            temperature: { baseline: 24, noise: 0.05 }
            humidity: { baseline: 50, noise: 0.3 }
            pressure: { baseline: 100000, noise: 3 }
          vibration: [{ from: 0s, profile: running }]
          faults: [\(fault)]
        """
        let board = try Board.open(try BoardFile.parse(yaml, path: "matrix.yaml"), timeScale: 0)
        let sampler = Sampler(board: board, logger: Logger(label: "matrix"))
        var cycles = 0
        var good = 0
        while board.clock.now < .seconds(120) {
            let started = board.clock.now
            for reading in sampler.sampleOnce() {
                #expect((reading.value == nil) == (reading.quality == .unavailable))
                if let value = reading.value {
                    good += 1
                    if !fault.contains("stuck") {
                        #expect(Self.physical[reading.channel]?.contains(value.value) == true,
                                "\(reading.channel) = \(value.value) under \(fault)")
                    }
                }
            }
            // A failing sensor must not stall the loop: one cycle takes well under a sampling period.
            #expect(board.clock.now - started < .seconds(5))
            board.clock.sleep(for: .seconds(5))
            cycles += 1
        }
        #expect(cycles >= 15)
        if fault.contains("absent") {
            #expect(good == 0)
        } else if fault.contains("unplug") || fault.contains("chip_reset") || fault.contains("timeout") {
            // Recovered once the fault is over.
            #expect(sampler.statuses["s"] == .ok, "\(chip) did not recover from \(fault)")
        }
    }
}
