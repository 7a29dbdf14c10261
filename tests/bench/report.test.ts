import t from 'tap';
import { escapeXml, markdownTable, niceMax, percentChange, ratio, svgBarChart, svgLineChart } from '../../bench/lib/report.ts';

t.test('markdown table aligns numbers right and escapes pipes', async (t) => {
  const md = markdownTable(['case', 'p99 (ms)', { title: 'note', align: 'center' }], [
    ['direct', 1.234, 'a|b'],
    ['mesh', 12, null],
  ]);
  t.equal(md, [
    '| case   | p99 (ms) | note |',
    '| ------ | -------: | :--: |',
    '| direct |     1.23 | a\\|b |',
    '| mesh   |       12 |      |',
    '',
  ].join('\n'));
});

t.test('ratios and changes', async (t) => {
  t.equal(ratio(3, 2), '1.50×');
  t.equal(ratio(1, 0), 'n/a');
  t.equal(ratio(undefined, 2), 'n/a');
  t.equal(percentChange(110, 100), '+10.0%');
  t.equal(percentChange(90, 100), '-10.0%');
  t.equal(niceMax(7.3), 10);
  t.equal(niceMax(180), 200);
  t.equal(niceMax(0), 1);
});

t.test('SVG charts are well-formed, escaped and carry every point', async (t) => {
  const opts = { title: 'p99 <by> rate', labels: ['100', '1000', '5000'], series: [{ name: 'direct', values: [1, 2, 3] }, { name: 'mesh & co', values: [2, 4, Number.NaN] }], yLabel: 'ms' };
  const bar = svgBarChart(opts);
  t.match(bar, /^<svg xmlns="http:\/\/www\.w3\.org\/2000\/svg"/);
  t.match(bar, /<\/svg>\n$/);
  t.match(bar, /p99 &lt;by&gt; rate/);
  t.match(bar, /mesh &amp; co/);
  t.equal((bar.match(/<rect x=[^>]*fill="#[0-9a-f]+"><title>/g) ?? []).length, 5, 'one bar per finite value');
  const line = svgLineChart(opts);
  t.equal((line.match(/<polyline /g) ?? []).length, 2);
  t.equal((line.match(/<circle /g) ?? []).length, 5);
  t.notMatch(line, /NaN/);
  t.equal(escapeXml('"<&>'), '&quot;&lt;&amp;&gt;');
});
