import ChipCatalog
import ADXL345
import ADXL345Model
import BME280
import BME280Model
import Boards
import Diagnostics
import HAL
import HALLinux
import HALSimulation
import SensorCore

/// The physical values the register images encode (issue 4: "i2c-stub preloaded with register
/// images encoded by the chip models from known physical values").
enum PlantedWorld {
    static let bme280: [(Channel, Double)] = [(.temperature, 23.40), (.humidity, 41.5), (.pressure, 99_850)]
    static let adxl345: [(Channel, Double)] = [(.accelerationX, 0.25), (.accelerationY, -0.5), (.accelerationZ, 1.0)]
}

/// Registers of one chip as its model encodes `world`, and what the real driver read from that model.
struct RegisterImage {
    var chip: ChipKind
    var address: I2CAddress
    /// (register, value) in the order they are planted.
    var registers: [(register: UInt8, value: UInt8)]
    var world: [(Channel, Double)]
    /// The model's resolution per channel: a correct driver reads within it of the world value.
    var resolution: [Channel: Double]
    /// What the driver read from the model on the simulated bus (the stub must give the same).
    var modelReading: [ChannelValue]

    func summary() -> String {
        var runs: [String] = []
        var start = 0
        for index in registers.indices {
            let last = index == registers.count - 1 || registers[index + 1].register != registers[index].register &+ 1
            guard last else { continue }
            let run = registers[start...index]
            runs.append("\(hex([run.first?.register ?? 0]))…\(hex([run.last?.register ?? 0])): \(hex(run.map(\.value)))")
            start = index + 1
        }
        return runs.joined(separator: " | ")
    }
}

/// A BME280 model at 23.40 °C, 41.5 %RH, 99 850 Pa, configured and triggered once by the real
/// driver over a `SimulatedI2CBus` (so the image holds the driver's own oversampling settings),
/// then read back: calibration 0x88…0xA1, id 0xD0, calibration 0xE1…0xE7, control/status/data 0xF2…0xFE.
func bme280Image() throws -> RegisterImage {
    let clock = VirtualClock()
    let environment = Environment(clock: clock)
    for (channel, value) in PlantedWorld.bme280 { environment.set(channel, value) }
    let model = BME280Model(environment: environment)
    let bus = SimulatedI2CBus(name: "model")
    bus.attach(model, at: BME280.primaryAddress)
    let driver = try part("BME280").makeDriver(bus: bus, address: BME280.primaryAddress, clock: clock)
    try driver.start()
    let reading = try driver.sample()  // one forced conversion: the data registers now hold the world
    try expectEqual(model.conversions, 1, "forced conversions in the model")
    let addresses: [UInt8] = Array(0x88...0xA1) + [0xD0] + Array(0xE1...0xE7) + Array(0xF2...0xFE)
    var registers: [(register: UInt8, value: UInt8)] = []
    for register in addresses {
        let value = try bus.writeRead(BME280.primaryAddress, [register], count: 1)
        registers.append((register, value.first ?? 0))
    }
    try expectEqual(registers.first { $0.register == 0xF3 }?.value, 0, "model status after the conversion")
    var resolution: [Channel: Double] = [:]
    for (channel, _) in PlantedWorld.bme280 { resolution[channel] = model.resolution(of: channel) }
    return RegisterImage(chip: try part("BME280"), address: BME280.primaryAddress, registers: registers, world: PlantedWorld.bme280,
                         resolution: resolution, modelReading: reading)
}

/// An ADXL345 model at x = +0.25, y = −0.5, z = +1.0 g, configured by the real driver (FULL_RES,
/// ±16 g, 400 Hz, stream FIFO) and left running until its FIFO is full; then DEVID, BW_RATE,
/// DATA_FORMAT, FIFO_STATUS (32 entries) and one popped sample DATAX0…DATAZ1 are read back.
/// i2c-stub never pops, so the driver on it reads this sample 32 entries at a time: vibration 0.
func adxl345Image() throws -> RegisterImage {
    let clock = VirtualClock()
    let environment = Environment(clock: clock)
    for (channel, value) in PlantedWorld.adxl345 { environment.set(channel, value) }
    let model = ADXL345Model(environment: environment)
    let address = ADXL345.primaryAddress
    let bus = SimulatedI2CBus(name: "model")
    bus.attach(model, at: address)
    let driver = try part("ADXL345").makeDriver(bus: bus, address: address, clock: clock)
    try driver.start()
    let reading = try driver.sample()
    clock.advance(by: .milliseconds(100))  // 40 conversions at 400 Hz: the stream FIFO holds 32
    var registers: [(register: UInt8, value: UInt8)] = []
    for register: UInt8 in [0x00, 0x2C, 0x31, 0x39] {
        registers.append((register, try bus.writeRead(address, [register], count: 1).first ?? 0))
    }
    try expectEqual(registers.last?.value, 32, "model FIFO_STATUS entries after 100 ms at 400 Hz")
    let sample = try bus.writeRead(address, [0x32], count: 6)  // one 6-byte burst pops one entry
    for (offset, value) in sample.enumerated() { registers.append((0x32 + UInt8(offset), value)) }
    var resolution: [Channel: Double] = [:]
    for (channel, _) in PlantedWorld.adxl345 { resolution[channel] = model.resolution(of: channel) }
    resolution[.vibrationRMS] = 0
    resolution[.vibrationPeak] = 0
    return RegisterImage(chip: try part("ADXL345"), address: address, registers: registers,
                         world: PlantedWorld.adxl345 + [(.vibrationRMS, 0), (.vibrationPeak, 0)],
                         resolution: resolution, modelReading: reading)
}

/// The BME280 and ADXL345 drivers against i2c-stub preloaded with register images their models
/// encoded (issue 4). Runs after ``i2cChecks(_:)``, whose scribbles the images overwrite.
func chipImageChecks(_ hil: HILRunner) {
    var stub: LinuxI2CBus?
    var images: [RegisterImage] = []

    hil.check("chips.register-images-from-models-planted-in-i2c-stub") {
        let bus = try LinuxI2CBus(path: try environment("HIL_I2C_BUS"))
        stub = bus
        images = [try bme280Image(), try adxl345Image()]
        for image in images {
            // Write byte data, one register each: what i2c-stub stores is then beyond doubt.
            for (register, value) in image.registers { try bus.write(image.address, [register, value]) }
            for (register, value) in image.registers {
                let back = try bus.writeRead(image.address, [register], count: 1)
                try expectEqual(back, [value], "\(image.chip.name) \(image.address) register \(hex([register])) read back")
            }
            hil.emit("  \(image.chip.name) @ \(image.address) image: \(image.summary())")
        }
    }
    guard let bus = stub, images.count == 2 else { return }

    for image in images {
        hil.check("chips.\(image.chip.name.lowercased())-driver-reads-model-values-from-i2c-stub") {
            let driver = image.chip.makeDriver(bus: bus, address: image.address, clock: SystemClock())
            try driver.start()
            let values = try driver.sample()
            var shown: [String] = []
            for (channel, expected) in image.world {
                guard let value = values.first(where: { $0.channel == channel })?.quantity.value else {
                    throw HILRunner.Failure("no \(channel.rawValue) in \(values)")
                }
                let tolerance = image.resolution[channel] ?? 0
                shown.append("\(channel.rawValue) \(formatFixed(value, digits: 4)) (set \(expected), ±\(formatFixed(tolerance, digits: 4)))")
                try expect(abs(value - expected) <= tolerance,
                           "\(channel.rawValue) read \(value), set \(expected): off by \(abs(value - expected)), more than the model's resolution \(tolerance)")
            }
            try expectEqual(values, image.modelReading, "reading from i2c-stub vs the same driver on the model")
            hil.emit("  \(image.chip.name) on \(bus.name): " + shown.joined(separator: ", "))
        }
    }
}

/// A part from the chip catalog by its board-file name.
func part(_ name: String) throws -> ChipKind {
    guard let kind = ChipCatalog.named(name) else { throw HILRunner.Failure("\(name) is not in the chip catalog") }
    return kind
}
