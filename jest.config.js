/**
 * jest for the models of the Explorer sidebar (ui/src/__tests__). The models are tested with the
 * api module mocked, so they run in node without a DOM or a Jupyter server.
 */
const esModules = [
  '@jupyterlab',
  '@jupyter',
  '@lumino',
  '@microsoft',
  'lib0',
  'y-protocols',
  'yjs',
  'exenv-es6',
  'nanoid'
].join('|');

module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/ui/src'],
  testMatch: ['**/__tests__/**/*.spec.ts?(x)'],
  transform: {
    '^.+\\.[tj]sx?$': [
      'ts-jest',
      {
        tsconfig: {
          allowJs: true,
          esModuleInterop: true,
          jsx: 'react',
          module: 'commonjs',
          target: 'es2022',
          strict: true,
          types: ['jest', 'node']
        }
      }
    ]
  },
  transformIgnorePatterns: [`/node_modules/(?!(${esModules})/)`]
};
