import TestSupport
import AgentRuntime
import Boards
import Foundation
import HALSimulation
import Logging
import SensorCore
import Testing


func openBoard(_ name: String) throws -> Board {
    try Board.open(try BoardFile.load(path: "\(repositoryRoot)/boards/\(name).yaml"), timeScale: 0)
}

@Suite struct SamplerTests {
    let logger = Logger(label: "test")

    @Test func failedSensorGivesNoValueAndRecoversWithoutRestart() throws {
        let board = try openBoard("sim-faulty")
        let sampler = Sampler(board: board, logger: logger)
        var motorGood: [Bool] = []
        var times: [Duration] = []
        while board.clock.now < .seconds(70) {
            let readings = sampler.sampleOnce()
            for reading in readings {
                // Never a made-up value: a value exactly when the quality is not unavailable.
                #expect((reading.value == nil) == (reading.quality == .unavailable))
            }
            // The missing BME280 never produces a value.
            #expect(readings.filter { $0.sensor == "ambient" }.allSatisfy { $0.value == nil })
            let motor = readings.filter { $0.sensor == "motor" }
            #expect(motor.count == 5)
            motorGood.append(motor.allSatisfy { $0.quality == .good })
            times.append(board.clock.now)
            board.clock.sleep(for: .seconds(5))
        }
        // Unplugged from 2 s to 45 s: good at first, failed in between, good again after the replug.
        #expect(motorGood.first == true)
        let failedWindow = zip(times, motorGood).filter { $0.0 > .seconds(8) && $0.0 < .seconds(44) }
        #expect(!failedWindow.isEmpty && failedWindow.allSatisfy { !$0.1 })
        #expect(motorGood.last == true)
        #expect(sampler.statuses["motor"] == .ok)
        if case .failed(let reason)? = sampler.statuses["ambient"] {
            #expect(reason.contains("no ACK on address at 0x76"))
        } else {
            Issue.record("ambient should be failed")
        }
    }

    @Test func crcNoiseIsRetriedNotReported() throws {
        let board = try openBoard("sim-faulty")
        let sampler = Sampler(board: board, logger: logger)
        var good = 0
        for _ in 0..<40 {
            let duct = sampler.sampleOnce().filter { $0.sensor == "duct" }
            if duct.allSatisfy({ $0.quality == .good }) { good += 1 }
            for r in duct where r.channel == .temperature { if let v = r.value { #expect(abs(v.value - 22.5) < 1) } }
            board.clock.sleep(for: .seconds(1))
        }
        // 40 % of reads are corrupted; one immediate retry makes most cycles good.
        #expect(good >= 25)
    }
}

@Suite struct TelemetryLoopTests {
    func messages(_ board: String, count: Int, frequency: Duration = .seconds(30)) throws -> [TelemetryMessage] {
        let opened = try openBoard(board)
        var out: [TelemetryMessage] = []
        TelemetryLoop(sendFrequency: frequency, interval: opened.file.sampling.interval, count: count)
            .run(board: opened, logger: Logger(label: "test")) { out.append($0) }
        return out
    }

    @Test func messagesCarryEverythingTheIssueAsksFor() throws {
        let sent = try messages("sim-factory-line", count: 3)
        #expect(sent.map(\.seq) == [1, 2, 3])
        for message in sent {
            #expect(message.deviceId == "factory-line-01")
            #expect(abs(message.periodSeconds - 30) < 2)
            #expect(message.temperature != nil && message.humidity != nil && message.pressure != nil)
            #expect(message.vibration.map { $0 > 0.05 && $0 < 0.1 } == true)  // RMS, running: 0.1 g at 50 Hz
            #expect(message.vibrationPeak.map { $0 > (message.vibration ?? 1) } == true)
            #expect(message.sensorHealth.keys.sorted() == ["ambient", "duct", "motor"])
            #expect(message.sensorHealth.values.allSatisfy { $0.status == "ok" && $0.unavailable == 0 })
            #expect(message.readings["duct"]?["humidity"]?.count ?? 0 >= 6)
        }
        let stamps = sent.map(\.timestamp)
        #expect(stamps == stamps.sorted() && Set(stamps).count == 3)
    }

    @Test func spikeAndBearingFaultShowUpInTheAggregates() throws {
        let sent = try messages("sim-factory-line", count: 10)
        // Temperature spike of +8 °C from 2:00 to 2:30.
        let spiking = sent.filter { ($0.readings["ambient"]?["temperature"]?.max ?? 0) > 28 }
        #expect(!spiking.isEmpty)
        #expect(sent.prefix(3).allSatisfy { ($0.readings["ambient"]?["temperature"]?.max ?? 99) < 24 })
        // Bearing fault from 4:00 on: vibration RMS well above the running level.
        let late = try #require(sent.last?.vibration)
        let early = try #require(sent.first?.vibration)
        #expect(late > 3 * early)
    }

    @Test func sameSeedSameTelemetry() throws {
        let a = try messages("sim-factory-line", count: 4)
        let b = try messages("sim-factory-line", count: 4)
        #expect(a.map(\.readings) == b.map(\.readings))
    }

    @Test func aFailedSensorKeepsTheOthersRunning() throws {
        let sent = try messages("sim-faulty", count: 3)
        #expect(sent.allSatisfy { $0.sensorHealth["ambient"]?.status == "failed" && $0.readings["ambient"] == nil })
        #expect(sent.allSatisfy { $0.sensorHealth["ambient"]?.error?.contains("0x76") == true })
        #expect(sent.allSatisfy { $0.humidity != nil })  // from the SHT31
        #expect(sent.allSatisfy { $0.pressure == nil })  // only the missing BME280 measures pressure
        // The ADXL345 was unplugged at 2 s and returns at 45 s: failed in the first period, back by the third.
        #expect(sent[0].sensorHealth["motor"]?.unavailable ?? 0 > 0)
        #expect(sent[2].sensorHealth["motor"]?.status == "ok")
    }
}
