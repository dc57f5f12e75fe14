import ChipCatalog
import Boards
import HAL
import HALSimulation
import SensorCore
import Testing

/// one generic test over every chip model and channel. For each physical
/// channel a model senses, set a value through the model's physical face, read it back through the
/// driver's public API and compare within the model's stated resolution.
@Suite struct ChipConformanceTests {
    /// Every chip kind the board files can name, so a new chip joins this test by joining `ChipCatalog`.
    static let kinds = ChipCatalog.all

    /// Quiet conditions the other channels sit at while one channel is swept.
    static let rest: [Channel: Double] = [.temperature: 21.3, .humidity: 47.0, .pressure: 98_765, .co2: 420,
                                          .accelerationX: 0.02, .accelerationY: -0.03, .accelerationZ: 0.98]

    @Test(arguments: kinds)
    func everyChannelReadsBackWithinResolution(kind: ChipKind) throws {
        let clock = VirtualClock()
        let environment = Environment(clock: clock)
        let model = try kind.makeModel(environment: environment, dump: nil)
        let bus = SimulatedI2CBus(name: "conformance")
        let address = kind.addresses[0]
        bus.attach(model, at: address)
        let driver = kind.makeDriver(bus: bus, address: address, clock: clock)
        #expect(!model.physicalChannels.isEmpty)
        for channel in model.physicalChannels { model.set(channel, Self.rest[channel] ?? 0) }
        try driver.start()

        for channel in model.physicalChannels {
            let range = model.range(of: channel)
            // Five points across the representable range, away from the exact ends.
            for fraction in [0.07, 0.29, 0.5, 0.71, 0.93] {
                let value = range.lowerBound + (range.upperBound - range.lowerBound) * fraction
                model.set(channel, value)
                let sample = try driver.sample()
                let read = try #require(sample.first { $0.channel == channel }, "\(kind) returned no \(channel)")
                let tolerance = model.resolution(of: channel)
                #expect(abs(read.quantity.value - value) <= tolerance,
                        "\(kind.name) \(channel.rawValue): set \(value), read \(read.quantity.value), tolerance \(tolerance)")
                #expect(read.quantity.unit == channel.unit)
            }
            model.set(channel, Self.rest[channel] ?? 0)
        }
    }

    @Test(arguments: kinds)
    func driverReportsEveryChannelItDeclares(kind: ChipKind) throws {
        let clock = VirtualClock()
        let environment = Environment(clock: clock)
        let model = try kind.makeModel(environment: environment, dump: nil)
        for channel in model.physicalChannels { model.set(channel, Self.rest[channel] ?? 0) }
        let bus = SimulatedI2CBus(name: "conformance")
        bus.attach(model, at: kind.addresses[0])
        let driver = kind.makeDriver(bus: bus, address: kind.addresses[0], clock: clock)
        try driver.start()
        let sample = try driver.sample()
        #expect(sample.map(\.channel) == driver.channels)
        // The catalog's descriptor says what the driver reports, in the driver's order.
        #expect(kind.descriptor.channels.map(\.channel) == driver.channels)
        for spec in kind.descriptor.channels {
            #expect(spec.resolution > 0 && spec.plausible.lowerBound < spec.plausible.upperBound, "\(kind) \(spec.channel)")
        }
        #expect(Set(model.physicalChannels).isSubset(of: Set(driver.channels)))
        #expect(try kind.identify(bus: bus, address: kind.addresses[0], clock: clock))
    }

    @Test func everyPartHasOneNameAndBoardFilesFindItByNameOrAlias() {
        #expect(Set(Self.kinds.map(\.name)).count == Self.kinds.count)
        for kind in Self.kinds {
            #expect(ChipCatalog.named(kind.name.lowercased()) == kind)
            for alias in kind.descriptor.aliases { #expect(ChipCatalog.named(alias) == kind) }
        }
        #expect(ChipCatalog.named("SHT3x")?.name == "SHT31")
        #expect(ChipCatalog.named("BME281") == nil)
        // One part per family that the bus can tell apart is tried by a scan.
        #expect(ChipCatalog.detectable.map(\.name) == ["BME280", "BMP280", "SHT31", "ADXL345", "SCD41"])
    }
}
