import HAL
import HALSimulation
import SensorCore
import Testing

/// Root mean square of `values`, computed here rather than by the code under test.
func rms(_ values: [Double]) -> Double {
    (values.reduce(0) { $0 + $1 * $1 } / Double(values.count)).squareRoot()
}

/// `count` instants `step` apart from `start`.
func instants(from start: Duration = .zero, step: Duration, count: Int) -> [Duration] {
    (0..<count).map { start + step * $0 }
}

@Suite struct ScenarioTests {
    static let channels: [Channel] = [.temperature, .humidity, .pressure, .accelerationX, .accelerationY, .accelerationZ]

    static func noisyWorld(seed: UInt64) -> Scenario {
        Scenario(seed: seed,
                 signals: [
                     .temperature: Signal(baseline: 21.5, noise: 0.3, driftPerHour: 0.5,
                                          events: [Signal.Event(.spike, at: .seconds(3), magnitude: 4)]),
                     .humidity: Signal(baseline: 45, noise: 1.5),
                     .pressure: Signal(baseline: 101_325, noise: 20),
                 ],
                 vibration: [(from: .seconds(2), profile: .running), (from: .seconds(4), profile: .bearingFault)],
                 accelerationNoise: 0.01)
    }

    /// Irregular instants over six seconds, crossing profile changes and the spike.
    static let times: [Duration] = (0..<400).map { .microseconds(Int64($0) * 15_013 + Int64($0 % 7) * 37) }

    @Test func sameSeedGivesTheSameValuesBitForBitWhateverTheQueryOrder() throws {
        let a = Self.noisyWorld(seed: 2024)
        let b = Self.noisyWorld(seed: 2024)

        // a: time-major, forwards.
        var forwards: [String: UInt64] = [:]
        for t in Self.times {
            for channel in Self.channels {
                forwards["\(channel)@\(t)"] = try #require(a.value(channel, at: t)).bitPattern
            }
        }
        // b: channel-major, backwards, each query preceded by an unrelated one.
        var backwards: [String: UInt64] = [:]
        for channel in Self.channels.reversed() {
            for t in Self.times.reversed() {
                _ = b.value(.accelerationY, at: t + .milliseconds(777))
                backwards["\(channel)@\(t)"] = try #require(b.value(channel, at: t)).bitPattern
            }
        }
        #expect(forwards.count == Self.times.count * Self.channels.count)
        #expect(forwards == backwards)
        // Asking the same instance again gives the same again.
        for t in Self.times.prefix(20) {
            #expect(a.value(.humidity, at: t)?.bitPattern == forwards["humidity@\(t)"])
        }
    }

    @Test func differentSeedsGiveDifferentNoiseOnEveryChannel() throws {
        let a = Self.noisyWorld(seed: 1)
        let b = Self.noisyWorld(seed: 2)
        for channel in Self.channels {
            let differing = try Self.times.filter { t in
                try #require(a.value(channel, at: t)) != #require(b.value(channel, at: t))
            }.count
            #expect(differing > Self.times.count * 9 / 10, "\(channel): only \(differing) values differ")
        }
    }

    @Test func signalNoiseHasTheConfiguredSpread() throws {
        let world = Scenario(seed: 99, signals: [.humidity: Signal(baseline: 50, noise: 2)])
        // Noise is redrawn every 10 ms; sample 5000 independent steps.
        let deviations = try instants(from: .milliseconds(5), step: .milliseconds(10), count: 5000).map { t in
            try #require(world.value(.humidity, at: t)) - 50
        }
        let mean = deviations.reduce(0, +) / Double(deviations.count)
        #expect(abs(mean) < 0.1, "mean \(mean)")
        #expect(abs(rms(deviations) - 2) < 0.1, "standard deviation \(rms(deviations))")
    }

    @Test func channelsWithoutASignalHaveNoValue() {
        let world = Scenario(seed: 1, signals: [.temperature: Signal(baseline: 20)])
        #expect(world.value(.humidity, at: .seconds(1)) == nil)
        #expect(world.value(.pressure, at: .seconds(1)) == nil)
        #expect(world.value(.vibrationRMS, at: .seconds(1)) == nil)
        #expect(world.value(.temperature, at: .seconds(1)) == 20)
    }

    @Test func baselineAndDrift() throws {
        let world = Scenario(seed: 3, signals: [.temperature: Signal(baseline: 20, noise: 0, driftPerHour: 1.2)])
        #expect(try #require(world.value(.temperature, at: .zero)) == 20)
        let halfHour = try #require(world.value(.temperature, at: .seconds(1800)))
        #expect(abs(halfHour - 20.6) < 1e-9)
        let tenHours = try #require(world.value(.temperature, at: .seconds(36_000)))
        #expect(abs(tenHours - 32) < 1e-9)
    }

    @Test func spikeAddsOnlyInsideItsWindow() throws {
        let world = Scenario(seed: 3, signals: [
            .pressure: Signal(baseline: 1000, events: [Signal.Event(.spike, at: .seconds(60), duration: .seconds(10), magnitude: 5)]),
        ])
        let expected: [(Duration, Double)] = [
            (.zero, 1000), (.milliseconds(59_999), 1000), (.seconds(60), 1005), (.seconds(65), 1005),
            (.milliseconds(69_999), 1005), (.seconds(70), 1000), (.seconds(3600), 1000),
        ]
        for (t, value) in expected {
            #expect(world.value(.pressure, at: t) == value, "at \(t)")
        }
    }

    @Test func dipSubtractsAndStepPersists() throws {
        let world = Scenario(seed: 3, signals: [
            .humidity: Signal(baseline: 40, events: [Signal.Event(.dip, at: .seconds(100), duration: .seconds(20), magnitude: 15)]),
            .temperature: Signal(baseline: 20, events: [Signal.Event(.step, at: .seconds(100), magnitude: 3)]),
        ])
        let humidity: [(Duration, Double)] = [
            (.milliseconds(99_999), 40), (.seconds(100), 25), (.milliseconds(119_999), 25), (.seconds(120), 40),
        ]
        for (t, value) in humidity {
            #expect(world.value(.humidity, at: t) == value, "humidity at \(t)")
        }
        let temperature: [(Duration, Double)] = [
            (.milliseconds(99_999), 20), (.seconds(100), 23), (.seconds(120), 23), (.seconds(86_400), 23),
        ]
        for (t, value) in temperature {
            #expect(world.value(.temperature, at: t) == value, "temperature at \(t)")
        }
    }

    @Test func vibrationProfileSwitchesAtTheListedTimes() {
        // Given out of order on purpose: the scenario sorts by start time.
        let world = Scenario(seed: 1, vibration: [(from: .seconds(20), profile: .bearingFault),
                                                   (from: .seconds(10), profile: .running),
                                                   (from: .seconds(30), profile: .idle)])
        let expected: [(Duration, VibrationProfile)] = [
            (.zero, .idle), (.milliseconds(9_999), .idle), (.seconds(10), .running), (.milliseconds(19_999), .running),
            (.seconds(20), .bearingFault), (.milliseconds(29_999), .bearingFault), (.seconds(30), .idle),
            (.seconds(1_000_000), .idle),
        ]
        for (t, profile) in expected {
            #expect(world.profile(at: t) == profile, "at \(t)")
        }
    }

    /// Z minus gravity, sampled at 10 kHz for one second from `start`.
    func acOnZ(_ world: Scenario, from start: Duration = .zero) throws -> [Double] {
        try instants(from: start, step: .microseconds(100), count: 10_000).map { t in
            try #require(world.value(.accelerationZ, at: t)) - 1
        }
    }

    @Test func runningShakesZWithAPointOneGSine() throws {
        let world = Scenario(seed: 5, vibration: [(from: .zero, profile: .running)], accelerationNoise: 0)
        let ac = try acOnZ(world)
        // A 0.1 g sine has an RMS of 0.1/√2 ≈ 0.0707 g and peaks at 0.1 g.
        #expect(abs(rms(ac) - 0.1 / 2.0.squareRoot()) < 1e-3, "RMS \(rms(ac))")
        let peak = ac.map(abs).max() ?? 0
        #expect(abs(peak - 0.1) < 1e-3, "peak \(peak)")
        // X and Y carry neither gravity nor vibration.
        for t in instants(step: .microseconds(1_237), count: 500) {
            #expect(world.value(.accelerationX, at: t) == 0)
            #expect(world.value(.accelerationY, at: t) == 0)
        }
    }

    @Test func idleIsStillAndBearingFaultShakesClearlyMoreThanRunning() throws {
        let world = Scenario(seed: 5, vibration: [(from: .seconds(10), profile: .running),
                                                  (from: .seconds(20), profile: .bearingFault)],
                             accelerationNoise: 0)
        let idle = rms(try acOnZ(world, from: .seconds(1)))
        let running = rms(try acOnZ(world, from: .seconds(11)))
        let bearing = rms(try acOnZ(world, from: .seconds(21)))
        #expect(idle == 0)
        #expect(abs(running - 0.0707) < 1e-3)
        // A 0.5 g defect tone on top of the motor: well over twice the running RMS.
        #expect(bearing > 2 * running, "bearing \(bearing) vs running \(running)")
        #expect(bearing < 0.6, "bearing \(bearing) exceeds what a 0.1 g + 0.5 g signal can reach")
    }

    @Test func accelerationNoiseHasTheConfiguredSpreadOnEveryAxis() throws {
        let world = Scenario(seed: 8, accelerationNoise: 0.002)
        let times = instants(from: .microseconds(50), step: .microseconds(100), count: 10_000)
        var noise: [Channel: [Double]] = [:]
        for (channel, gravity) in [(Channel.accelerationX, 0.0), (.accelerationY, 0.0), (.accelerationZ, 1.0)] {
            noise[channel] = try times.map { try #require(world.value(channel, at: $0)) - gravity }
            #expect(abs(rms(noise[channel]!) - 0.002) < 0.0002, "\(channel): \(rms(noise[channel]!))")
        }
        // Each axis has its own noise: X and Y are uncorrelated, not one draw reused.
        let x = noise[.accelerationX]!, y = noise[.accelerationY]!
        let correlation = zip(x, y).reduce(0) { $0 + $1.0 * $1.1 } / (Double(x.count) * rms(x) * rms(y))
        #expect(abs(correlation) < 0.1, "X/Y correlation \(correlation)")
    }

    static let axes: [Channel] = [.accelerationX, .accelerationY, .accelerationZ]

    /// A noisy world driving an environment's three acceleration axes, and a reader of them (the
    /// ADXL345 model's).
    static func threeAxisReader(seed: UInt64) -> (Scenario, Environment, Environment.Reader) {
        let world = noisyWorld(seed: seed)
        let environment = Environment(clock: VirtualClock())
        world.drive(environment, channels: axes)
        return (world, environment, Environment.Reader(environment, axes[0], axes[1], axes[2]))
    }

    /// A reader of the three axes (the ADXL345 model's) gets what the scenario says per axis,
    /// bit for bit, through the joint source `drive` installs; replacing one axis drops the
    /// joint source and the reader follows.
    @Test func aReaderOfTheThreeAxesGetsTheScenarioBitForBitAndFollowsChanges() throws {
        let (world, environment, initialReader) = Self.threeAxisReader(seed: 78)
        var reader = initialReader
        for t in Self.times + instants(step: .microseconds(37), count: 2_000) {
            let read = reader.values(at: t)
            for (i, axis) in Self.axes.enumerated() {
                let expected = try #require(world.value(axis, at: t))
                #expect(read[i].bitPattern == expected.bitPattern, "\(axis) at \(t)")
            }
        }
        environment.set(.accelerationY, 0.25)
        let t = Duration.milliseconds(2_500)
        let read = reader.values(at: t)
        #expect(read.y == 0.25)
        #expect(read.x.bitPattern == world.value(.accelerationX, at: t)?.bitPattern)
        #expect(read.z.bitPattern == world.value(.accelerationZ, at: t)?.bitPattern)
    }

    /// A catch-up of the accelerometer model reads many conversions at once: the batch gives, at
    /// each instant (the one before plus the period), what the scenario says per axis, bit for
    /// bit, across the profile changes at 2 s and 4 s.
    @Test func aBatchOfInstantsGetsTheScenarioBitForBit() throws {
        let (world, environment, initialReader) = Self.threeAxisReader(seed: 79)
        var reader = initialReader
        var batch = [SIMD3<Double>](repeating: .zero, count: 33)
        var mismatches = 0
        // 2.5 ms apart (400 Hz), batches straddling both profile changes.
        for start in [Duration.milliseconds(1_950), .milliseconds(3_990), .microseconds(4_000_037)] {
            reader.values(from: start, every: .microseconds(2_500), into: &batch)
            var t = start
            for values in batch {
                for (i, axis) in Self.axes.enumerated() where values[i].bitPattern != world.value(axis, at: t)?.bitPattern {
                    mismatches += 1
                }
                t += .microseconds(2_500)
            }
        }
        #expect(mismatches == 0)
        // With single sources only (no joint source), the batch reads them per instant.
        environment.set(.accelerationY, 0.25)
        reader.values(from: .seconds(5), every: .microseconds(2_500), into: &batch)
        #expect(batch.allSatisfy { $0.y == 0.25 })
        #expect(batch[5].x.bitPattern == world.value(.accelerationX, at: .seconds(5) + .microseconds(12_500))?.bitPattern)
    }

    @Test func driveConnectsAnEnvironmentToTheScenario() throws {
        let world = Self.noisyWorld(seed: 77)
        let clock = VirtualClock()
        let environment = Environment(clock: clock, defaults: [.temperature: -273])
        world.drive(environment, channels: [.temperature, .accelerationZ, .vibrationPeak])

        for t in Self.times {
            let expected = try #require(world.value(.temperature, at: t))
            #expect(environment.value(.temperature, at: t).bitPattern == expected.bitPattern)
            let z = try #require(world.value(.accelerationZ, at: t))
            #expect(environment.value(.accelerationZ, at: t).bitPattern == z.bitPattern)
        }
        // Without a time the environment reads the clock.
        clock.advance(to: .milliseconds(4_321))
        #expect(environment.value(.temperature) == world.value(.temperature, at: .milliseconds(4_321)))
        // Channels the scenario says nothing about, or that were not asked for, stay unattached.
        #expect(environment.value(.vibrationPeak, fallback: -1) == -1)
        #expect(environment.value(.humidity, fallback: -1) == -1)
    }
}
