import Foundation
import Hummingbird
import LedgerService
import Logging
import Metrics
import Prometheus

/// `--metrics-port`: Prometheus text on `/metrics`, liveness on `/healthz`, readiness on `/readyz` (503 with the
/// reason while the service cannot append). The ingest pipeline records through swift-metrics; this registry is
/// its backend.
enum MetricsEndpoint {
    static let registry = PrometheusCollectorRegistry()

    /// Installs the Prometheus backend for swift-metrics. Call once, before the service starts.
    static func bootstrap() {
        MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: registry))
    }

    /// Serves on 127.0.0.1 (or `host`) at `port` until the returned task is cancelled.
    static func start(host: String, port: Int, service: IngestService, logger: Logger) -> Task<Void, Never> {
        let router = Router()
        router.get("metrics") { _, _ -> Response in
            var headers = HTTPFields()
            headers[.contentType] = "text/plain; version=0.0.4; charset=utf-8"
            return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: registry.emitToBuffer())))
        }
        router.get("healthz") { _, _ in "ok\n" }
        router.get("readyz") { _, _ -> Response in
            let (ready, reason) = service.readiness
            let text = ready ? "ready\n" : "not ready: \(reason)\n"
            return Response(status: ready ? .ok : .serviceUnavailable,
                            body: .init(byteBuffer: ByteBuffer(string: text)))
        }
        var quiet = logger
        quiet.logLevel = .warning
        let app = Application(router: router, configuration: .init(address: .hostname(host, port: port)), logger: quiet)
        logger.info("metrics on http://\(host):\(port)/metrics")
        return Task {
            do {
                try await app.runService(gracefulShutdownSignals: [])
            } catch is CancellationError {
            } catch {
                logger.error("metrics endpoint stopped: \(error)")
            }
        }
    }
}
