/// What the technician's page shows, gathered by the agent at the moment the page is asked for.
public struct PageModel: Sendable, Equatable {
    public struct Sensor: Sendable, Equatable {
        public var name: String
        public var chip: String
        /// The live status from the last send period (`ok`, `failed`, `absent`, `unknown`).
        public var status: String
        /// Why it is not ok, when the agent knows.
        public var error: String?
        public init(name: String, chip: String, status: String, error: String? = nil) {
            self.name = name
            self.chip = chip
            self.status = status
            self.error = error
        }
        public var healthy: Bool { status == "ok" }
    }

    /// One channel's recent send-period averages, oldest first; `age` in seconds before now.
    public struct Series: Sendable, Equatable {
        public var sensor: String
        public var channel: String
        public var unit: String
        public var points: [(age: Double, value: Double)]
        public init(sensor: String, channel: String, unit: String, points: [(age: Double, value: Double)]) {
            self.sensor = sensor
            self.channel = channel
            self.unit = unit
            self.points = points
        }
        public static func == (a: Series, b: Series) -> Bool {
            a.sensor == b.sensor && a.channel == b.channel && a.unit == b.unit
                && a.points.map(\.age) == b.points.map(\.age) && a.points.map(\.value) == b.points.map(\.value)
        }
    }

    /// One doctor check: `ok`, `warning` or `failed`.
    public struct Check: Sendable, Equatable {
        public var title: String
        public var status: String
        public var detail: String
        public init(title: String, status: String, detail: String) {
            self.title = title
            self.status = status
            self.detail = detail
        }
    }

    /// A `POST /api/<name>` the page offers.
    public struct Action: Sendable, Equatable {
        public var name: String
        public var title: String
        public init(name: String, title: String) {
            self.name = name
            self.title = title
        }
    }

    /// A channel the page offers to calibrate, with the calibration in force (its label; nil: none).
    public struct Calibration: Sendable, Equatable {
        public var sensor: String
        public var channel: String
        public var unit: String
        public var label: String?
        public init(sensor: String, channel: String, unit: String, label: String?) {
            self.sensor = sensor
            self.channel = channel
            self.unit = unit
            self.label = label
        }
    }

    public var deviceID: String
    public var board: String
    public var agentVersion: String
    public var sensors: [Sensor]
    public var series: [Series]
    /// Label → text: link, backlog, certificate, clock.
    public var state: [(label: String, text: String, ok: Bool)]
    /// The last doctor run (nil: not run yet) and when, as text.
    public var doctor: (when: String, checks: [Check])?
    public var actions: [Action]
    /// One form each (`POST /api/calibrate`); empty: the page offers no calibration.
    public var calibrations: [Calibration]

    public init(deviceID: String, board: String, agentVersion: String, sensors: [Sensor], series: [Series],
                state: [(label: String, text: String, ok: Bool)], doctor: (when: String, checks: [Check])?, actions: [Action],
                calibrations: [Calibration] = []) {
        self.calibrations = calibrations
        self.deviceID = deviceID
        self.board = board
        self.agentVersion = agentVersion
        self.sensors = sensors
        self.series = series
        self.state = state
        self.doctor = doctor
        self.actions = actions
    }

    public static func == (a: PageModel, b: PageModel) -> Bool {
        a.deviceID == b.deviceID && a.board == b.board && a.sensors == b.sensors && a.series == b.series
            && a.state.map(\.text) == b.state.map(\.text) && a.doctor?.checks == b.doctor?.checks && a.actions == b.actions
            && a.calibrations == b.calibrations
    }
}

/// Renders the page: one HTML document with its style, a few lines of script for the actions,
/// and each chart as inline SVG, so a phone on the site network needs nothing else.
public enum TechnicianPage {
    public static let chartWidth = 320.0
    public static let chartHeight = 64.0
    /// The charts span this many seconds back from now.
    public static let window = 3600.0

    public static func render(_ m: PageModel) -> String {
        let faults = m.sensors.filter { !$0.healthy }
        var html = """
            <!doctype html>
            <html lang="en"><head><meta charset="utf-8">
            <meta name="viewport" content="width=device-width, initial-scale=1">
            <title>\(escape(m.deviceID)) · FieldAgent</title>
            <style>\(style)</style></head>
            <body>
            <header><h1>\(escape(m.deviceID))</h1><p>\(escape(m.board)) · FieldAgent \(escape(m.agentVersion)) · <a href="/">refresh</a></p></header>

            """
        if faults.isEmpty {
            html += "<p id=\"summary\" class=\"banner ok\">All \(m.sensors.count) sensors healthy</p>\n"
        } else {
            let names = faults.map { "\($0.name) (\($0.status))" }.joined(separator: ", ")
            html += "<p id=\"summary\" class=\"banner fault\">Sensor fault: \(escape(names))</p>\n"
        }
        html += "<section><h2>Sensors</h2><table id=\"sensors\">\n"
        for s in m.sensors {
            html += "<tr class=\"\(s.healthy ? "ok" : "fault")\" data-sensor=\"\(escape(s.name))\" data-status=\"\(escape(s.status))\">"
            html += "<td><b>\(escape(s.name))</b><br><small>\(escape(s.chip))</small></td>"
            html += "<td class=\"status\">\(escape(s.status.uppercased()))\(s.error.map { "<br><small>\(escape($0))</small>" } ?? "")</td></tr>\n"
        }
        html += "</table></section>\n<section><h2>Readings, last hour</h2>\n"
        if m.series.isEmpty { html += "<p>No readings yet.</p>\n" }
        for s in m.series {
            let latest = s.points.last.map { format($0.value) } ?? "–"
            html += "<div class=\"series\" data-series=\"\(escape(s.sensor)).\(escape(s.channel))\"><p><b>\(escape(s.sensor)) \(escape(s.channel))</b>"
            html += " <span class=\"value\">\(latest) \(escape(s.unit))</span></p>\(chart(s))</div>\n"
        }
        html += "</section>\n<section><h2>Device</h2><table id=\"state\">\n"
        for item in m.state {
            html += "<tr class=\"\(item.ok ? "ok" : "fault")\"><td>\(escape(item.label))</td><td>\(escape(item.text))</td></tr>\n"
        }
        html += "</table></section>\n<section><h2>Doctor</h2>\n"
        if let doctor = m.doctor {
            html += "<p><small>run \(escape(doctor.when))</small></p><table id=\"doctor\">\n"
            for check in doctor.checks {
                html += "<tr class=\"\(check.status == "ok" ? "ok" : "fault")\"><td>\(escape(check.title))</td>"
                html += "<td class=\"status\">\(escape(check.status.uppercased()))<br><small>\(escape(check.detail))</small></td></tr>\n"
            }
            html += "</table>\n"
        } else {
            html += "<p>Not run yet.</p>\n"
        }
        html += "</section>\n<section id=\"actions\"><h2>Actions</h2>\n"
        html += "<p><input id=\"token\" type=\"password\" placeholder=\"device token\" autocomplete=\"off\"></p>\n"
        for action in m.actions {
            html += "<button data-action=\"\(escape(action.name))\">\(escape(action.title))</button>\n"
        }
        if !m.calibrations.isEmpty {
            html += "<h3>Calibrate</h3>\n<p><small>An offset, or two readings against a reference. A later calibration from the twin replaces it.</small></p>\n"
        }
        for c in m.calibrations { html += calibrationForm(c) }
        html += "<pre id=\"result\"></pre></section>\n<script>\(script)</script>\n</body></html>\n"
        return html
    }

    /// One channel's form, folded: its calibration in force, an offset or two (raw, reference) points.
    static func calibrationForm(_ c: PageModel.Calibration) -> String {
        let (sensor, channel, unit) = (escape(c.sensor), escape(c.channel), escape(c.unit))
        func number(_ name: String, _ placeholder: String) -> String {
            "<input name=\"\(name)\" type=\"number\" step=\"any\" inputmode=\"decimal\" placeholder=\"\(placeholder)\">"
        }
        return "<details class=\"calibration\"><summary>\(sensor) \(channel) <small>\(escape(c.label ?? "not calibrated"))</small></summary>"
            + "<form data-sensor=\"\(sensor)\" data-channel=\"\(channel)\">"
            + "<p>\(number("offset", "offset \(unit)"))</p>"
            + "<p>or \(number("raw1", "read")) → \(number("ref1", "reference"))<br>and \(number("raw2", "read")) → \(number("ref2", "reference"))</p>"
            + "<button value=\"set\">Set</button><button value=\"remove\">Remove</button></form></details>\n"
    }

    /// A line chart of the series over the last ``window`` seconds, or a note when it has too few points.
    static func chart(_ s: PageModel.Series) -> String {
        let points = s.points.filter { $0.age >= 0 && $0.age <= window && $0.value.isFinite }
        guard points.count >= 2, let low = points.map(\.value).min(), let high = points.map(\.value).max() else {
            return "<svg class=\"chart\" viewBox=\"0 0 \(Int(chartWidth)) \(Int(chartHeight))\" role=\"img\"><text x=\"4\" y=\"36\">collecting…</text></svg>"
        }
        let span = high - low > 0 ? high - low : 1
        let margin = 4.0
        let coordinates = points.map { p -> String in
            let x = (window - p.age) / window * chartWidth
            let y = margin + (1 - (p.value - low) / span) * (chartHeight - 2 * margin)
            return "\(format(x, digits: 1)),\(format(y, digits: 1))"
        }.joined(separator: " ")
        return "<svg class=\"chart\" viewBox=\"0 0 \(Int(chartWidth)) \(Int(chartHeight))\" role=\"img\" aria-label=\"\(escape(s.channel)) over the last hour\">"
            + "<polyline fill=\"none\" stroke=\"#1565c0\" stroke-width=\"1.5\" points=\"\(coordinates)\"/>"
            + "<text x=\"2\" y=\"10\">\(format(high)) </text><text x=\"2\" y=\"\(Int(chartHeight) - 2)\">\(format(low))</text></svg>"
    }

    /// A number with at most `digits` decimals, without Foundation's formatters.
    static func format(_ value: Double, digits: Int = 2) -> String {
        guard value.isFinite else { return "–" }
        var scale = 1.0
        for _ in 0..<digits { scale *= 10 }
        let rounded = (value * scale).rounded() / scale + 0  // + 0 turns -0 into 0
        var text = "\(rounded)"
        if text.hasSuffix(".0") { text.removeLast(2) }
        return text
    }

    public static func escape(_ text: String) -> String {
        var out = ""
        out.reserveCapacity(text.utf8.count)
        for c in text {
            switch c {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&#39;"
            default: out.append(c)
            }
        }
        return out
    }

    static let style = """
        body{font-family:system-ui,sans-serif;margin:0;padding:0 12px 24px;color:#111;background:#fafafa}
        header h1{font-size:1.3em;margin:12px 0 0}header p{margin:2px 0 8px;color:#555;font-size:.9em}
        h2{font-size:1.05em;margin:16px 0 6px}table{width:100%;border-collapse:collapse;background:#fff}
        td{padding:6px;border-bottom:1px solid #ddd;vertical-align:top}td.status{text-align:right;font-weight:600}
        tr.ok td.status{color:#2e7d32}tr.fault{background:#ffebee}tr.fault td.status{color:#c62828}
        .banner{padding:10px;border-radius:6px;font-weight:600}.banner.ok{background:#e8f5e9;color:#2e7d32}
        .banner.fault{background:#c62828;color:#fff}.series{background:#fff;margin:6px 0;padding:4px 6px}
        .series p{margin:0}.value{float:right}svg.chart{width:100%;height:64px}svg text{font-size:9px;fill:#777}
        button{font-size:1em;padding:10px 14px;margin:4px 4px 0 0}input{font-size:1em;padding:8px;width:60%}
        pre{white-space:pre-wrap;font-size:.8em;background:#fff;max-height:240px;overflow:auto}
        h3{font-size:1em;margin:14px 0 4px}details.calibration{background:#fff;margin:4px 0;padding:6px}
        details.calibration input{width:28%}details.calibration p{margin:6px 0}
        """

    static let script = """
        function send(action,body){var out=document.getElementById('result');out.textContent='…';
        fetch('/api/'+action,{method:'POST',body:body,headers:{'Authorization':'Bearer '+document.getElementById('token').value}})
        .then(function(r){return r.text().then(function(t){out.textContent=r.status+' '+t;});})
        .catch(function(e){out.textContent=String(e);});}
        document.querySelectorAll('button[data-action]').forEach(function(b){b.onclick=function(){send(b.dataset.action,'');};});
        document.querySelectorAll('form[data-channel]').forEach(function(f){f.onsubmit=function(e){e.preventDefault();
        var v=function(n){return f.elements[n].value.trim();},c;
        if(e.submitter&&e.submitter.value==='remove'){c=null;}
        else if(v('offset')!==''){c={offset:Number(v('offset'))};}
        else{c={points:[{raw:Number(v('raw1')),reference:Number(v('ref1'))},{raw:Number(v('raw2')),reference:Number(v('ref2'))}]};}
        var body={},channels={};channels[f.dataset.channel]=c;body[f.dataset.sensor]=channels;send('calibrate',JSON.stringify(body));};});
        """
}
