import SensorCore
import Testing

@Suite struct ChannelTests {
    /// Every channel with its unit symbol, written out here rather than taken from the code.
    static let expectedUnits: [Channel: String] = [
        .temperature: "°C",
        .humidity: "%RH",
        .pressure: "Pa",
        .accelerationX: "g",
        .accelerationY: "g",
        .accelerationZ: "g",
        .vibrationRMS: "g",
        .vibrationPeak: "g",
        .co2: "ppm",
    ]

    @Test func everyChannelHasItsUnit() {
        #expect(Set(Channel.allCases) == Set(Self.expectedUnits.keys), "a channel was added without a unit test")
        for channel in Channel.allCases {
            #expect(channel.unit.rawValue == Self.expectedUnits[channel], "\(channel)")
        }
    }

    @Test func rawValuesAreTheNamesBoardFilesAndTelemetryUse() {
        #expect(Channel.allCases.map(\.rawValue) == [
            "temperature", "humidity", "pressure", "accelerationX", "accelerationY", "accelerationZ",
            "vibrationRMS", "vibrationPeak", "co2",
        ])
        #expect(Channel(rawValue: "accelerationZ") == .accelerationZ)
        #expect(Channel(rawValue: "Temperature") == nil)
    }

    @Test func channelsSortInDeclarationOrder() {
        let shuffled: [Channel] = [.vibrationPeak, .pressure, .accelerationZ, .temperature, .humidity, .accelerationX]
        #expect(shuffled.sorted() == [.temperature, .humidity, .pressure, .accelerationX, .accelerationZ, .vibrationPeak])
        #expect(Channel.temperature < .humidity)
        #expect(!(Channel.vibrationRMS < .vibrationRMS))
    }

    @Test func quantityFactoriesAttachTheirUnit() {
        #expect(Quantity.celsius(21.5) == Quantity(21.5, .degreeCelsius))
        #expect(Quantity.percentRH(40) == Quantity(40, .percentRelativeHumidity))
        #expect(Quantity.pascals(101_325) == Quantity(101_325, .pascal))
        #expect(Quantity.g(-0.25) == Quantity(-0.25, .standardGravity))
        #expect(Quantity.celsius(1) != Quantity(1, .pascal))
    }

    @Test func quantityDescriptionShowsValueAndSymbol() {
        #expect(Quantity.celsius(21.5).description == "21.5 °C")
        #expect(Quantity.percentRH(40).description == "40.0 %RH")
        #expect(Quantity.pascals(101_325).description == "101325.0 Pa")
        #expect(Quantity.g(-0.25).description == "-0.25 g")
        #expect(Quantity.percentRH(45.1171875).description == "45.1172 %RH")
        #expect(Quantity(612, .partsPerMillion).description == "612.0 ppm")
    }
}
