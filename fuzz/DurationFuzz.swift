// libFuzzer harness for durations as configuration files and the twin write them
// (`sendFrequency: "1h30m"`, `"PT30S"`). Compiled with
// Sources/Agent/Configuration/DurationText.swift into one module by scripts/fuzz.sh.
//
// Properties checked (a violation traps, which libFuzzer reports as a crash):
// 1. `parse` never crashes, whatever the text, and never gives a negative duration.
// 2. A parsed duration is formatted into text that parses back to a duration with the same text
//    (up to 2^42 ms, about 139 years: beyond it the Double sum of seconds the parser uses loses the ms). The text has millisecond resolution, so a fractional ISO hour such as
//    'P1T244444444.444H' (a crash of an earlier, exact-equality form of this check; kept in the
//    corpus) keeps only its milliseconds.

@_cdecl("LLVMFuzzerTestOneInput")
public func durationFuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let text = String(decoding: UnsafeBufferPointer(start: data, count: size), as: UTF8.self)
    guard let duration = try? DurationText.parse(text) else { return 0 }
    guard duration >= .zero else { fatalError("'\(text)' parsed as the negative \(duration)") }
    guard duration <= .milliseconds(Int64(1) << 42) else { return 0 }  // ~139 years: the parser sums seconds in a Double, exact to the ms here
    let formatted = DurationText.format(duration)
    guard let again = try? DurationText.parse(formatted) else {
        fatalError("'\(text)' parsed as \(duration), formatted as '\(formatted)', which does not parse")
    }
    let reformatted = DurationText.format(again)
    guard reformatted == formatted else {
        fatalError("'\(text)' parsed as \(duration), formatted as '\(formatted)', parsed as \(again), formatted as '\(reformatted)'")
    }
    return 0
}
