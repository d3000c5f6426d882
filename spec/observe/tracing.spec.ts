import assert from 'node:assert/strict';
import { tracingSettings } from '../../lib/observe/tracing.ts';

describe('tracingSettings', () => {
  it('is off without an OTLP endpoint, or when the SDK or the trace exporter is switched off', () => {
    assert.equal(tracingSettings({}), undefined);
    assert.equal(tracingSettings({ OTEL_EXPORTER_OTLP_ENDPOINT: '' }), undefined, 'compose passes an unset variable as empty');
    assert.equal(tracingSettings({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318', OTEL_SDK_DISABLED: 'TRUE' }), undefined);
    assert.equal(tracingSettings({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318', OTEL_TRACES_EXPORTER: 'none' }), undefined);
  });

  it('appends /v1/traces to the base endpoint, and takes the traces endpoint as the whole URL', () => {
    assert.equal(tracingSettings({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318/' })?.url, 'http://collector:4318/v1/traces');
    assert.equal(tracingSettings({ OTEL_EXPORTER_OTLP_ENDPOINT: 'https://otel.example/base' })?.url, 'https://otel.example/base/v1/traces');
    assert.equal(
      tracingSettings({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://a:4318', OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'http://b:9999/custom' })?.url,
      'http://b:9999/custom',
    );
  });

  it('reads the service name, sampler and batch delay, with the specification defaults', () => {
    const defaults = tracingSettings({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318' });
    assert.deepEqual(defaults, { url: 'http://c:4318/v1/traces', serviceName: 'ai-proxy-multi', sampler: 'parentbased_always_on', samplerArg: 1, scheduleDelayMs: 5000 });
    const set = tracingSettings({
      OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318',
      OTEL_SERVICE_NAME: 'edge-gw',
      OTEL_TRACES_SAMPLER: 'parentbased_traceidratio',
      OTEL_TRACES_SAMPLER_ARG: '0.25',
      OTEL_BSP_SCHEDULE_DELAY: '200',
    });
    assert.deepEqual(set, { url: 'http://c:4318/v1/traces', serviceName: 'edge-gw', sampler: 'parentbased_traceidratio', samplerArg: 0.25, scheduleDelayMs: 200 });
  });

  it('names the variable whose value cannot be used', () => {
    assert.throws(() => tracingSettings({ OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'ftp://c/x' }), /OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: "ftp:\/\/c\/x" is not an http\(s\) URL/);
    assert.throws(() => tracingSettings({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c', OTEL_TRACES_SAMPLER_ARG: '2' }), /OTEL_TRACES_SAMPLER_ARG: "2"/);
    assert.throws(() => tracingSettings({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c', OTEL_BSP_SCHEDULE_DELAY: 'soon' }), /OTEL_BSP_SCHEDULE_DELAY/);
  });
});
