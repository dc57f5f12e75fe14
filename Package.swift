// swift-tools-version:6.0
// FieldAgent: a device agent for Raspberry Pi-class ARM Linux boards.
// Dependency direction follows ../shared/DESIGN.md §3: nothing points upward, chip drivers see
// only HAL + SensorCore, chip models only HALSimulation + SensorCore.
import PackageDescription

/// A chip contributes a driver target and a model target (DESIGN.md §3, CONVENTIONS.md 5).
func chip(_ name: String) -> [Target] {
    [
        .target(name: name, dependencies: ["HAL", "SensorCore"], path: "Sources/Chips/\(name)/Driver"),
        .target(name: "\(name)Model", dependencies: ["HALSimulation", "SensorCore"],
                path: "Sources/Chips/\(name)/Model"),
        .testTarget(name: "\(name)Tests",
                    dependencies: [.target(name: name), .target(name: "\(name)Model"), "HALTesting", "HALSimulation"],
                    path: "Tests/\(name)Tests"),
    ]
}

let chips = ["BME280", "SHT3x", "ADXL345"]
let chipTargets: [Target.Dependency] = chips.flatMap { name -> [Target.Dependency] in
    [.target(name: name), .target(name: "\(name)Model")]
}

let package = Package(
    name: "FieldAgent",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "fieldagent", targets: ["fieldagent"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.6.0"),
        .package(url: "https://github.com/jpsim/Yams", from: "5.0.1"),
    ],
    targets: [
        .target(name: "HAL"),
        .target(name: "SensorCore", dependencies: ["HAL"]),
        .target(name: "Configuration"),
        .target(name: "HALSimulation", dependencies: ["HAL", "SensorCore"]),
        .target(name: "HALTesting", dependencies: ["HAL"]),
        .target(name: "Boards",
                dependencies: ["HAL", "HALSimulation", "SensorCore", "Configuration", "Yams"] + chipTargets),
        .target(name: "Diagnostics", dependencies: ["Boards", "HAL", "SensorCore", .product(name: "Logging", package: "swift-log")]),
        .target(name: "AgentRuntime", dependencies: ["Boards", "Diagnostics", "HAL", "SensorCore", .product(name: "Logging", package: "swift-log")]),
        .executableTarget(name: "fieldagent", dependencies: [
            "AgentRuntime", "Boards", "Diagnostics",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
            .product(name: "Logging", package: "swift-log"),
        ]),
        .testTarget(name: "HALTests", dependencies: ["HAL", "HALSimulation", "HALTesting"]),
        .testTarget(name: "SensorCoreTests", dependencies: ["SensorCore", "Configuration"]),
        .testTarget(name: "BoardsTests", dependencies: ["Boards"], resources: [.copy("Fixtures")]),
        .testTarget(name: "ConformanceTests", dependencies: ["HALSimulation", "SensorCore", "HALTesting"] + chipTargets),
        .testTarget(name: "DiagnosticsTests", dependencies: ["Diagnostics", "Boards", "HALSimulation"]),
        .testTarget(name: "CLITests", dependencies: ["fieldagent"]),
        // Pure protocol targets (DESIGN.md §3): standard library only, no I/O. The fuzzer in
        // fuzz/ compiles Sources/MQTT/*.swift directly, so MQTT must stay dependency-free.
        .target(name: "MQTT"),
        .target(name: "IoTHub", dependencies: ["MQTT"]),
        .testTarget(name: "MQTTTests", dependencies: ["MQTT"]),
        .testTarget(name: "IoTHubTests", dependencies: ["IoTHub", "MQTT"]),
    ] + chips.flatMap(chip),
    swiftLanguageModes: [.v6]
)
