/* The map's points as GL points: one vertex per item (and images tinted by their colour, below).
 *
 * deck.gl's ScatterplotLayer draws every item as an instance of a four-vertex quad.
 * Software GL (SwiftShader: headless browsers, machines without a GPU) runs each
 * instance as its own small draw: ~2 s a frame at 100k items on two cores, against
 * ~0.3 s for the same items as plain (non-instanced) gl.POINTS. This subclass keeps
 * ScatterplotLayer's props, attributes, uniforms and picking, and swaps the geometry
 * and the shaders: one vertex per item, a round point sprite. The shader's attributes
 * are renamed from instance* to dot* because luma.gl makes any attribute whose name
 * contains "instance" an instanced one.
 */
(function (M) {
  "use strict";
  if (!window.deck) return;

  const VS = `#version 300 es
#define SHADER_NAME dots-layer-vertex-shader
in vec3 dotPositions;
in vec3 dotPositions64Low;
in float dotRadius;
in vec4 dotFillColors;
in vec3 dotPickingColors;
out vec4 vFillColor;
out float vRadius;
void main(void) {
  geometry.worldPosition = dotPositions;
  geometry.pickingColor = dotPickingColors;
  vRadius = clamp(project_size_to_pixel(scatterplot.radiusScale * dotRadius, scatterplot.radiusUnits),
                  scatterplot.radiusMinPixels, scatterplot.radiusMaxPixels);
  gl_Position = project_position_to_clipspace(dotPositions, dotPositions64Low, vec3(0.0), geometry.position);
  gl_PointSize = 2.0 * vRadius + 1.0;
  vFillColor = vec4(dotFillColors.rgb, dotFillColors.a * layer.opacity);
  DECKGL_FILTER_COLOR(vFillColor, geometry);
}
`;
  const FS = `#version 300 es
#define SHADER_NAME dots-layer-fragment-shader
precision highp float;
in vec4 vFillColor;
in float vRadius;
out vec4 fragColor;
void main(void) {
  // distance from the centre in pixels; a one-pixel soft edge
  float d = length(gl_PointCoord * 2.0 - 1.0) * (vRadius + 0.5);
  float inside = clamp(vRadius + 0.5 - d, 0.0, 1.0);
  if (inside <= 0.0) discard;
  fragColor = vFillColor;
  fragColor.a *= inside;
  DECKGL_FILTER_COLOR(fragColor, geometry);
}
`;
  const rename = (name) => name.replace(/^instance/, "dot");

  function vertexLayout(layout) {
    // The same buffers, read once per vertex, under the shader's dot* names.
    const attributes = layout.attributes
      ? layout.attributes.map((a) => ({...a, attribute: rename(a.attribute)}))
      : [{attribute: rename(layout.name), format: layout.format, byteOffset: 0}];
    const {format, ...rest} = layout;
    return {...rest, stepMode: "vertex", attributes};
  }

  class DotsLayer extends deck.ScatterplotLayer {
    getShaders() {
      return {...super.getShaders(), vs: VS, fs: FS};
    }

    _getModel() {
      // luma.gl's Model class is not exported by the bundle: take it from the model
      // ScatterplotLayer builds, then build ours with point topology.
      const quad = super._getModel();
      const Model = quad.constructor;
      quad.destroy();
      const model = new Model(this.context.device, {
        ...this.getShaders(), id: this.props.id,
        bufferLayout: this.getAttributeManager().getBufferLayouts().map(vertexLayout),
        topology: "point-list", vertexCount: 0, isInstanced: false,
      });
      // deck.gl resets the layout and the constants under the instance* names: map them each time
      const setLayout = model.setBufferLayout.bind(model);
      model.setBufferLayout = (layouts) => setLayout(layouts.map(vertexLayout));
      const setConstants = model.setConstantAttributes.bind(model);
      model.setConstantAttributes = (values) =>
        setConstants(Object.fromEntries(Object.entries(values).map(([k, v]) => [rename(k), v])));
      return model;
    }

    draw(opts) {
      this.state.model.setVertexCount(this.getNumInstances());
      super.draw(opts);
    }
  }
  DotsLayer.layerName = "DotsLayer";
  M.DotsLayer = DotsLayer;

  /** Images mode coloured by a column: each image mixed with its item's colour (getColor's rgb, which
   * IconLayer otherwise ignores for images), so colour means something on thumbnails too. Mixing in
   * the shader, not a layer of colour over the images, keeps overlapping images from piling up tints. */
  const TINT = "0.45";
  class TintedIconLayer extends deck.IconLayer {
    getShaders() {
      const shaders = super.getShaders();
      return {...shaders, inject: {...(shaders.inject || {}),
        // not while picking: there the fragment's colour is the item's index, which a tint would garble
        "fs:#main-end": `if (picking.isActive < 0.5) fragColor.rgb = mix(fragColor.rgb, vColor.rgb, ${TINT});`}};
    }
  }
  TintedIconLayer.layerName = "TintedIconLayer";
  M.TintedIconLayer = TintedIconLayer;
})(window.dashMapModules = window.dashMapModules || {});
