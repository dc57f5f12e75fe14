// The arm64 probe (scripts/arm64-check.sh builds and runs it inside the arm64 Debian root).
//
// 1. `fact` lines: what Swift sees of the structs and request numbers HALLinux hands to ioctl,
//    the C types behind them and the Sensirion CRC-8 of the drivers. The script compares each
//    with the line gcc's build of scripts/arm64/facts.c prints on the same machine.
// 2. A simulated board read once: every chip model this build has on one SimulatedI2CBus, each
//    identified and started by its driver, every channel read once and checked against the value
//    the model was given, within the model's resolution.
// Output: `fact …`, `info …`, `reading …` lines, then `PROBE PASS` or `PROBE FAIL: reasons`.
// The CI form builds it with the SHT3x alone; the full form with every chip and ChipCatalog.
#if canImport(Glibc)
import Glibc
#endif
import CKernelI2C
import CLinuxI2C
import HAL
import HALSimulation
import SensorCore
import SHT3x
import SHT3xModel
#if canImport(ChipCatalog)
import ADXL345
import ADXL345Model
import BME280
import BME280Model
import ChipCatalog
import SCD4x
import SCD4xModel
#endif

var failures: [String] = []

// MARK: Layouts, request numbers, types (C's sizeof is Swift's stride)

func layout<T>(_ name: String, _ type: T.Type, _ fields: [(String, PartialKeyPath<T>)]) {
    print("fact layout \(name) size \(MemoryLayout<T>.stride) align \(MemoryLayout<T>.alignment)")
    for (field, path) in fields {
        print("fact layout \(name).\(field) offset \(MemoryLayout<T>.offset(of: path).map(String.init) ?? "none")")
    }
}
func hex(_ value: some BinaryInteger, width: Int = 0) -> String {
    let digits = String(value, radix: 16, uppercase: true)
    return "0x" + String(repeating: "0", count: max(0, width - digits.count)) + digits
}

layout("i2c_msg", i2c_msg.self, [("addr", \.addr), ("flags", \.flags), ("len", \.len), ("buf", \.buf)])
layout("CLinuxI2C_msg", CLinuxI2C_msg.self, [("addr", \.addr), ("flags", \.flags), ("len", \.len), ("buf", \.buf)])
layout("i2c_rdwr_ioctl_data", i2c_rdwr_ioctl_data.self, [("msgs", \.msgs), ("nmsgs", \.nmsgs)])
layout("i2c_smbus_ioctl_data", i2c_smbus_ioctl_data.self,
       [("read_write", \.read_write), ("command", \.command), ("size", \.size), ("data", \.data)])
layout("i2c_smbus_data", i2c_smbus_data.self, [])
print("fact constant CLinuxI2C_SMBUS_DATA_SIZE \(CLinuxI2C_SMBUS_DATA_SIZE)")
print("fact type unsigned-long size \(MemoryLayout<CUnsignedLong>.size)")
print("fact type pointer size \(MemoryLayout<UnsafeRawPointer>.size)")
print("fact ioctl I2C_SLAVE \(hex(I2C_SLAVE).lowercased())")
print("fact ioctl I2C_FUNCS \(hex(I2C_FUNCS).lowercased())")
print("fact ioctl I2C_RDWR \(hex(I2C_RDWR).lowercased())")
print("fact ioctl I2C_SMBUS \(hex(I2C_SMBUS).lowercased())")
print("fact byte-order \(UInt16(1).littleEndian == 1 ? "little-endian" : "big-endian")")

// MARK: Sensirion CRC-8 through the drivers' own functions

func crcFacts(_ crc8: ([UInt8]) -> UInt8) -> String {
    var fnv: UInt32 = 2_166_136_261
    for word in 0...0xFFFF {
        fnv = (fnv ^ UInt32(crc8([UInt8(word >> 8), UInt8(word & 0xFF)]))) &* 16_777_619
    }
    return "fact crc8 BEEF \(hex(crc8([0xBE, 0xEF]), width: 2))\nfact crc8 all-words-fnv1a \(hex(fnv, width: 8))"
}
let sht3xCRC = crcFacts({ SHT3x.crc8($0) })
print(sht3xCRC)
#if canImport(ChipCatalog)
// The SCD4x has its own copy of the routine; it must agree with the SHT3x's line for line.
if crcFacts({ SCD4x.crc8($0) }) != sht3xCRC { failures.append("SCD4x.crc8 differs from SHT3x.crc8") }
#endif
print("info Swift: CChar is \(CChar.self) on this machine")

// MARK: A simulated board, read once

/// Values the models are given; each channel a driver reads back is checked against its own.
let given: [Channel: Double] = [.temperature: 23.45, .humidity: 41.2, .pressure: 99_870, .co2: 612,
                                .accelerationX: 0.12, .accelerationY: -0.25, .accelerationZ: 0.97]
var parts: [(ChipDescriptor, ChipModelFactory)] = []
@MainActor func add(_ descriptors: [ChipDescriptor], _ factories: [ChipModelFactory], part: String) {
    guard let descriptor = descriptors.first(where: { $0.name == part }),
          let factory = factories.first(where: { $0.chip == part }) else {
        failures.append("no descriptor or model named \(part)")
        return
    }
    parts.append((descriptor, factory))
}
add(SHT3x.descriptors, SHT3xModel.factories, part: "SHT31")
#if canImport(ChipCatalog)
add(BME280.descriptors, BME280Model.factories, part: "BME280")
add(ADXL345.descriptors, ADXL345Model.factories, part: "ADXL345")
add(SCD4x.descriptors, SCD4xModel.factories, part: "SCD41")
#endif

let clock = VirtualClock()
let bus = SimulatedI2CBus(name: "arm64-probe")
var models: [I2CAddress: any ChipModel] = [:]
for (descriptor, factory) in parts {
    do {
        let model = try factory.make(Environment(clock: clock), nil)
        for channel in model.physicalChannels { model.set(channel, given[channel] ?? 0) }
        bus.attach(model, at: descriptor.addresses[0])
        models[descriptor.addresses[0]] = model
    } catch {
        failures.append("\(descriptor.name) model: \(error)")
    }
}
print("info board: \(parts.map { "\($0.0.name)@\($0.0.addresses[0])" }.joined(separator: " ")) on \(bus.name)")

for (descriptor, _) in parts {
    let address = descriptor.addresses[0]
    do {
        guard try descriptor.identify(bus, address, clock) else {
            failures.append("\(descriptor.name) at \(address) not identified")
            continue
        }
        #if canImport(ChipCatalog)
        let detected = ChipCatalog.detect(bus: bus, address: address, clock: clock)
        if detected?.descriptor.identifiesAs != descriptor.identifiesAs {
            failures.append("ChipCatalog.detect at \(address) found \(detected?.name ?? "nothing"), not \(descriptor.name)")
        }
        #endif
        let driver = descriptor.makeDriver(bus, address, clock)
        try driver.start()
        let values = try driver.sample()
        if values.map(\.channel) != driver.channels { failures.append("\(descriptor.name) returned \(values.map(\.channel))") }
        for value in values {
            var verdict = "derived"
            if let model = models[address], model.physicalChannels.contains(value.channel) {
                let expected = given[value.channel] ?? 0
                let tolerance = model.resolution(of: value.channel)
                let ok = abs(value.quantity.value - expected) <= tolerance
                verdict = "given \(value.channel.format(expected)), \(ok ? "within" : "OUTSIDE") ±\(formatFixed(tolerance, digits: 4))"
                if !ok { failures.append("\(descriptor.name) \(value.channel.rawValue) read \(value.quantity.value), given \(expected)") }
            }
            print("reading \(descriptor.name)@\(address) \(value.channel.rawValue) \(value.channel.format(value.quantity.value)) (\(verdict))")
        }
    } catch {
        failures.append("\(descriptor.name) at \(address): \(error)")
    }
}

if failures.isEmpty {
    print("PROBE PASS")
} else {
    print("PROBE FAIL: " + failures.joined(separator: "; "))
    exit(1)
}
