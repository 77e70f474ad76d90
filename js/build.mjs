// Bundles src/index.ts (and the CSS it imports) into ../chatzoo_widget/static/widget.{js,css}.
// Everything is bundled: the widget loads nothing from a CDN or any other address.
import * as esbuild from "esbuild";

const watch = process.argv.includes("--watch");
const options = {
  entryPoints: ["src/index.ts"],
  outfile: "../chatzoo_widget/static/widget.js",
  bundle: true,
  format: "esm",
  target: ["es2020"],
  minify: !watch,
  sourcemap: false,
  legalComments: "eof",
  logLevel: "info",
};

if (watch) {
  const ctx = await esbuild.context(options);
  await ctx.watch();
} else {
  await esbuild.build(options);
}
