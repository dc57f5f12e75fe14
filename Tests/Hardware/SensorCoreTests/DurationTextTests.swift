import Configuration
import Testing

@Suite struct DurationTextTests {
    @Test(arguments: [
        ("30s", Duration.seconds(30)),
        ("5m", .seconds(300)),
        ("1h", .seconds(3_600)),
        ("2d", .seconds(172_800)),
        ("250ms", .milliseconds(250)),
        ("1h30m", .seconds(5_400)),
        ("1.5s", .milliseconds(1_500)),
        ("0s", .zero),
        ("  45S", .seconds(45)),
        ("PT30S", .seconds(30)),
        ("PT1H30M", .seconds(5_400)),
        ("P1DT2H", .seconds(93_600)),
        ("P2D", .seconds(172_800)),
        ("PT0.5S", .milliseconds(500)),
        ("PT0,25S", .milliseconds(250)),
        // Lower case is not ISO 8601 strictly, but it cannot mean anything else; people type it.
        ("pt5m", .seconds(300)),
        ("p1dt1h", .seconds(90_000)),
    ])
    func parses(text: String, expected: Duration) throws {
        #expect(try DurationText.parse(text) == expected)
    }

    @Test(arguments: [
        ("banana", "expected a number"),
        ("-5s", "negative"),
        ("5", "unit is missing after 5"),
        ("", "empty"),
        ("   ", "empty"),
        ("5x", "unknown unit 'x'"),
        ("30s5", "unit is missing after 5"),
        ("PT", "incomplete"),
        ("P", "incomplete"),
        ("P1DT", "incomplete"),
        ("PT5", "incomplete"),
        ("P1W", "'W' is not allowed"),
        ("P1M", "'M' is in the wrong place"),
        ("PT1D", "'D' is in the wrong place"),
        ("PTS", "expected a number before 'S'"),
        ("1.5.2s", "'1.5.2' is not a number"),
        // Far beyond what a Duration in milliseconds can hold: refused, not a crash.
        ("99999999999999999999h", "too long"),
        ("PT99999999999999999999H", "too long"),
    ])
    func refuses(text: String, reasonMentions fragment: String) {
        let error = #expect(throws: DurationText.ParseError.self) { try DurationText.parse(text) }
        #expect(error?.text == text)
        #expect(error?.reason.contains(fragment) == true, "reason was: \(error?.reason ?? "none")")
        #expect(error?.description.hasPrefix("'\(text)' is not a duration: ") == true)
    }

    @Test(arguments: [
        (Duration.seconds(30), "30s"),
        (.seconds(300), "5m"),
        (.seconds(5_400), "1h30m"),
        (.milliseconds(250), "250ms"),
        (.zero, "0s"),
        (.seconds(3_605), "1h5s"),
        (.milliseconds(61_001), "1m1s1ms"),
        (.seconds(93_600), "26h"),
    ])
    func formatsShortestCompactFormAndRoundTrips(duration: Duration, text: String) throws {
        #expect(DurationText.format(duration) == text)
        #expect(try DurationText.parse(text) == duration)
    }
}
